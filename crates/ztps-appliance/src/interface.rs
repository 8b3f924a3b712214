//! EOS Ethernet interface names.
//!
//! ZTPServer 2.1.0 normalises the *local* interface of a neighbordb pattern
//! (`Et49` becomes `Ethernet49`) but compares the *remote* port exactly with
//! what the leaf's LLDP reports, which on EOS is the long form `Ethernet3`
//! (ZTPServer issue #172). We therefore always write the long form.

use crate::Error;

/// Canonical EOS name (`Ethernet49`, `Ethernet1/1`) of an Ethernet interface
/// given in any EOS abbreviation (`Et49`, `eth1/1`, `ethernet3`).
pub fn canonical_ethernet(field: &'static str, name: &str) -> Result<String, Error> {
    let lower = name.trim().to_ascii_lowercase();
    let digits_at = lower
        .find(|c: char| c.is_ascii_digit())
        .ok_or_else(|| Error::invalid(field, name, "no interface number"))?;
    let (prefix, numbers) = lower.split_at(digits_at);
    if prefix.is_empty() || !"ethernet".starts_with(prefix) {
        return Err(Error::invalid(
            field,
            name,
            "not an Ethernet interface (expected e.g. Ethernet49 or Et49)",
        ));
    }
    let parts: Vec<&str> = numbers.split('/').collect();
    if parts.len() > 3 {
        return Err(Error::invalid(field, name, "too many '/' levels"));
    }
    let mut canonical = String::from("Ethernet");
    for (i, part) in parts.iter().enumerate() {
        let n: u32 = part
            .parse()
            .map_err(|_| Error::invalid(field, name, "interface numbers must be decimal"))?;
        if n == 0 {
            return Err(Error::invalid(field, name, "interface numbers start at 1"));
        }
        if i > 0 {
            canonical.push('/');
        }
        canonical.push_str(&n.to_string());
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_and_long_forms_agree() {
        for (input, want) in [
            ("Ethernet49", "Ethernet49"),
            ("Et49", "Ethernet49"),
            ("et49", "Ethernet49"),
            ("e3", "Ethernet3"),
            ("Eth1/1", "Ethernet1/1"),
            ("Ethernet3/1/4", "Ethernet3/1/4"),
        ] {
            assert_eq!(canonical_ethernet("if", input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn rejects_other_interfaces() {
        for bad in [
            "Management1",
            "Port-Channel1",
            "Ethernet",
            "Et0",
            "Et1//2",
            "Et1/2/3/4",
            "Etx",
            "",
        ] {
            assert!(canonical_ethernet("if", bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = canonical_ethernet("if", &s);
        }
    }
}
