"""The one thing EOS's Python has that PyPI's jsonrpclib-pelix lacks.

EOS ships a jsonrpclib whose Server() takes "unix:/var/run/command-api.sock",
which is how ZTPServer's bootstrap reaches eAPI on a real switch (and how
Arista documents on-box eAPI). jsonrpclib-pelix spells the same transport
"unix+http://host/PATH" and posts to "/". ci/lab/leaf-ztp puts this file on
the leaf Python's path, so the unmodified bootstrap takes its real EOS path
instead of ZTPServer's switch-less test mode (EAPI_TEST).
"""

import jsonrpclib.jsonrpc as _jsonrpc

_init = _jsonrpc.ServerProxy.__init__


def _eos_init(self, uri, *args, **kwargs):
    unix = isinstance(uri, str) and uri.startswith("unix:") and not uri.startswith("unix+")
    if unix:
        uri = "unix+http://localhost" + uri[len("unix:"):]
    _init(self, uri, *args, **kwargs)
    if unix:
        # EOS serves eAPI at /command-api on its unix socket too.
        self._ServerProxy__handler = "/command-api"


_jsonrpc.ServerProxy.__init__ = _eos_init
