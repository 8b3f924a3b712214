"""Signs a SWIX with a test CA through switools' own library and verifies it.

switools 1.2's `verify-swix` and `swix-signature sign` command lines refuse
every SWIX (they look for a SWI's `version` entry first), so this calls the
library functions those commands are built on: prepareSwi (adds the null
signature with Info-ZIP's zip), signSwi and verifySwi.

Usage: python switools_sign_verify.py SWIX SIGNING.crt SIGNING.key ROOT.crt
Prints one line per step; exits non-zero on any failure.
"""
import sys

from switools import swisignature, verifyswi

swix, cert, key, root = sys.argv[1:5]
R = verifyswi.VERIFY_SWI_RESULT

unsigned = verifyswi.verifySwi(swix, rootCA=root)
print("unsigned:", unsigned)
if unsigned != R.ERROR_SIGNATURE_FILE:
    sys.exit(f"an unsigned SWIX should verify as 'not signed', got {unsigned}")

swisignature.prepareSwi(swi=swix)
swisignature.signSwi(swix, cert, root, signingKeyFile=key)
signed = verifyswi.verifySwi(swix, rootCA=root)
print("signed:", signed)
if signed != R.SUCCESS:
    sys.exit(f"verification of the signed SWIX failed: {signed}")
