//! Client classes: who is answered, and what an Arista option 60 says.

/// What an Arista option 60 (`Arista;<model>;<hw rev>;<serial>`) tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorInfo {
    pub model: Option<String>,
    pub hw_revision: Option<String>,
    pub serial: Option<String>,
}

/// Whether option 60 starts with one of the configured prefixes. The
/// empty prefix answers every client, even one that sends no option 60.
pub fn is_member(vendor_class: Option<&[u8]>, prefixes: &[String]) -> bool {
    prefixes
        .iter()
        .any(|p| p.is_empty() || vendor_class.is_some_and(|vc| vc.starts_with(p.as_bytes())))
}

/// Splits an Arista-style option 60 into its fields. Fields that are empty
/// or not printable ASCII are left out rather than trusted.
pub fn parse_vendor_class(vendor_class: &[u8]) -> VendorInfo {
    let mut fields = vendor_class.split(|b| *b == b';').skip(1).map(|f| {
        let printable = !f.is_empty() && f.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
        printable.then(|| String::from_utf8_lossy(f).trim().to_string())
    });
    VendorInfo {
        model: fields.next().flatten(),
        hw_revision: fields.next().flatten(),
        serial: fields.next().flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arista_option_60() {
        let info = parse_vendor_class(b"Arista;DCS-7050SX3-48YC8;11.00;JPE12345678");
        assert_eq!(info.model.as_deref(), Some("DCS-7050SX3-48YC8"));
        assert_eq!(info.hw_revision.as_deref(), Some("11.00"));
        assert_eq!(info.serial.as_deref(), Some("JPE12345678"));
        assert_eq!(parse_vendor_class(b"Arista"), VendorInfo::default());
        let odd = parse_vendor_class(b"Arista;\xff\xfe;;SN1");
        assert_eq!(
            (odd.model, odd.hw_revision, odd.serial.as_deref()),
            (None, None, Some("SN1"))
        );
    }

    #[test]
    fn membership_is_a_prefix_match() {
        let prefixes = vec!["Arista".to_string()];
        assert!(is_member(Some(b"Arista;x"), &prefixes));
        assert!(!is_member(Some(b"MSFT 5.0"), &prefixes));
        assert!(!is_member(Some(b"Aris"), &prefixes));
        assert!(!is_member(None, &prefixes));
        let everyone = vec![String::new()];
        assert!(is_member(Some(b"MSFT 5.0"), &everyone));
        assert!(is_member(None, &everyone));
    }
}
