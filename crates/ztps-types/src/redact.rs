//! What of a URL or an error may reach a log, a status page or an event.

use std::error::Error;

/// `scheme://host:port` of `url`, the only part of a URL that may be
/// logged: userinfo is a credential, and a path or query can be one too
/// (Slack and Teams webhooks carry their token in the path).
pub fn url_origin(url: &str) -> String {
    let Ok(uri) = url.trim().parse::<http::Uri>() else {
        return "<unparseable URL>".into();
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return "<unparseable URL>".into();
    };
    let port = authority
        .port_u16()
        .or(match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        })
        .map_or_else(String::new, |p| format!(":{p}"));
    // `host()` is the authority without its userinfo.
    format!("{scheme}://{}{port}", authority.host())
}

/// An error and its causes on one line: the useful words ("connection
/// refused", a TLS verdict) hide deep in hyper's and rustls' sources.
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let s = cause.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_drops_userinfo_path_and_query() {
        for (url, origin) in [
            (
                "https://hooks.slack.com/services/T0/B0/secret",
                "https://hooks.slack.com:443",
            ),
            (
                "http://admin:pw@10.0.0.1:8080/command-api?x=1",
                "http://10.0.0.1:8080",
            ),
            ("http://[::1]/x", "http://[::1]:80"),
            ("not a url", "<unparseable URL>"),
            ("/relative/only", "<unparseable URL>"),
        ] {
            assert_eq!(url_origin(url), origin, "{url}");
        }
    }

    #[test]
    fn chain_names_every_distinct_cause_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("request failed")
            }
        }
        impl Error for Outer {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(error_chain(&err), "request failed: connection refused");
    }
}
