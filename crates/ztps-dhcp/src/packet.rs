//! The validating parser for client requests.
//!
//! Every received datagram goes through [`parse_request`] before anything
//! else looks at it. It checks the fixed header, the magic cookie and every
//! option's length against the packet's end, and only then extracts what
//! the server uses. It never panics and never reads past the buffer. (The
//! replies are encoded by the handler, byte by byte. dhcproto, which the
//! tests use to decode them, is not used on untrusted input: its
//! `chaddr()` panics on hlen > 16 and its option loop stops silently at
//! the first bad option.)

use std::net::Ipv4Addr;

/// Length of the fixed BOOTP header before the magic cookie.
const FIXED_LEN: usize = 236;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
const OPT_PAD: u8 = 0;
const OPT_END: u8 = 255;
const OPT_OVERLOAD: u8 = 52;

/// DHCP message types (option 53) a server receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Discover,
    Request,
    Decline,
    Release,
    Inform,
}

/// Why a datagram was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    TooShort(usize),
    NotBootRequest(u8),
    BadHardwareLength(u8),
    BadMagicCookie,
    OptionOverrun { code: u8 },
    BadOptionLength { code: u8, len: usize },
    MissingMessageType,
    UnexpectedMessageType(u8),
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::TooShort(n) => write!(f, "{n} bytes is too short for a DHCP message"),
            Malformed::NotBootRequest(op) => write!(f, "op {op} is not BOOTREQUEST"),
            Malformed::BadHardwareLength(n) => {
                write!(f, "hardware address length {n} is outside 1..=16")
            }
            Malformed::BadMagicCookie => write!(f, "bad magic cookie"),
            Malformed::OptionOverrun { code } => {
                write!(f, "option {code} runs past the end of the packet")
            }
            Malformed::BadOptionLength { code, len } => {
                write!(f, "option {code} has invalid length {len}")
            }
            Malformed::MissingMessageType => write!(f, "no DHCP message type (option 53)"),
            Malformed::UnexpectedMessageType(t) => {
                write!(f, "message type {t} is not one a client sends")
            }
        }
    }
}

/// A request that passed validation, with the fields the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub message_type: MessageType,
    pub htype: u8,
    /// `chaddr` truncated to `hlen` (1..=16 bytes).
    pub chaddr: Vec<u8>,
    pub xid: u32,
    pub secs: u16,
    pub broadcast: bool,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub hops: u8,
    pub requested_ip: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    pub client_id: Option<Vec<u8>>,
    pub vendor_class: Option<Vec<u8>>,
    /// Option 12 as sent; not necessarily UTF-8.
    pub hostname: Option<Vec<u8>>,
    pub max_message_size: Option<u16>,
    pub parameter_list: Vec<u8>,
}

impl Request {
    /// The key that identifies the client: option 61 when present,
    /// otherwise hardware type and address (RFC 2131 section 4.2).
    pub fn client_key(&self) -> Vec<u8> {
        match &self.client_id {
            Some(id) => id.clone(),
            None => std::iter::once(self.htype)
                .chain(self.chaddr.iter().copied())
                .collect(),
        }
    }
}

/// The options the server reads, indexed by code; every other option is
/// length-checked and skipped without being copied. Repeated options are
/// concatenated (RFC 3396).
struct Options {
    /// Position + 1 in `values` of each code's data; 0: absent.
    index: [u8; 256],
    values: Vec<Vec<u8>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            index: [0; 256],
            values: Vec::new(),
        }
    }
}

/// The codes [`parse_request`] looks at.
fn wanted(code: u8) -> bool {
    matches!(code, 12 | 50 | 52 | 53 | 54 | 55 | 57 | 60 | 61)
}

impl Options {
    fn push(&mut self, code: u8, data: &[u8]) {
        if !wanted(code) {
            return;
        }
        let slot = &mut self.index[usize::from(code)];
        match usize::from(*slot)
            .checked_sub(1)
            .and_then(|i| self.values.get_mut(i))
        {
            Some(existing) => existing.extend_from_slice(data),
            None => {
                self.values.push(data.to_vec());
                // At most the nine wanted codes: always fits.
                *slot = u8::try_from(self.values.len()).unwrap_or(0);
            }
        }
    }

    fn get(&self, code: u8) -> Option<&[u8]> {
        let i = usize::from(self.index[usize::from(code)]).checked_sub(1)?;
        self.values.get(i).map(Vec::as_slice)
    }

    fn fixed<const N: usize>(&self, code: u8) -> Result<Option<[u8; N]>, Malformed> {
        match self.get(code) {
            None => Ok(None),
            Some(v) => v
                .try_into()
                .map(Some)
                .map_err(|_| Malformed::BadOptionLength { code, len: v.len() }),
        }
    }
}

/// Walks one option area. A missing END is tolerated (many clients omit it
/// in sname/file), an option whose length runs past the area is not.
fn walk(area: &[u8], options: &mut Options) -> Result<(), Malformed> {
    let mut i = 0;
    while let Some(&code) = area.get(i) {
        match code {
            OPT_PAD => i += 1,
            OPT_END => return Ok(()),
            _ => {
                let len = usize::from(*area.get(i + 1).ok_or(Malformed::OptionOverrun { code })?);
                let data = area
                    .get(i + 2..i + 2 + len)
                    .ok_or(Malformed::OptionOverrun { code })?;
                options.push(code, data);
                i += 2 + len;
            }
        }
    }
    Ok(())
}

fn ipv4(bytes: &[u8], at: usize) -> Ipv4Addr {
    let mut a = [0u8; 4];
    if let Some(s) = bytes.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    Ipv4Addr::from(a)
}

/// Validates a datagram and extracts a [`Request`].
pub fn parse_request(packet: &[u8]) -> Result<Request, Malformed> {
    if packet.len() < FIXED_LEN + MAGIC.len() {
        return Err(Malformed::TooShort(packet.len()));
    }
    let (op, htype, hlen, hops) = (packet[0], packet[1], packet[2], packet[3]);
    if op != 1 {
        return Err(Malformed::NotBootRequest(op));
    }
    if hlen == 0 || hlen > 16 {
        return Err(Malformed::BadHardwareLength(hlen));
    }
    if packet[FIXED_LEN..FIXED_LEN + 4] != MAGIC {
        return Err(Malformed::BadMagicCookie);
    }
    let mut options = Options::default();
    walk(&packet[FIXED_LEN + 4..], &mut options)?;
    // Option overload (52): more options in `file` (1), `sname` (2) or both.
    if let Some([overload]) = options.fixed::<1>(OPT_OVERLOAD)? {
        if overload & 1 != 0 {
            walk(&packet[108..236], &mut options)?;
        }
        if overload & 2 != 0 {
            walk(&packet[44..108], &mut options)?;
        }
    }
    let message_type = match options.fixed::<1>(53)? {
        None => return Err(Malformed::MissingMessageType),
        Some([1]) => MessageType::Discover,
        Some([3]) => MessageType::Request,
        Some([4]) => MessageType::Decline,
        Some([7]) => MessageType::Release,
        Some([8]) => MessageType::Inform,
        Some([other]) => return Err(Malformed::UnexpectedMessageType(other)),
    };
    // Repeated option 61 instances concatenate (RFC 3396), but a client
    // identifier longer than one option is no real client's, and echoing it
    // (RFC 6842) would grow the reply past what a client can take: refuse it.
    let client_id = match options.get(61) {
        Some(id) if id.len() < 2 || id.len() > 255 => {
            return Err(Malformed::BadOptionLength {
                code: 61,
                len: id.len(),
            });
        }
        other => other.map(<[u8]>::to_vec),
    };
    let flags = u16::from_be_bytes([packet[10], packet[11]]);
    Ok(Request {
        message_type,
        htype,
        chaddr: packet[28..28 + usize::from(hlen)].to_vec(),
        xid: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        secs: u16::from_be_bytes([packet[8], packet[9]]),
        broadcast: flags & 0x8000 != 0,
        ciaddr: ipv4(packet, 12),
        giaddr: ipv4(packet, 24),
        hops,
        requested_ip: options.fixed::<4>(50)?.map(Ipv4Addr::from),
        server_id: options.fixed::<4>(54)?.map(Ipv4Addr::from),
        client_id,
        vendor_class: options.get(60).map(<[u8]>::to_vec),
        hostname: options.get(12).map(<[u8]>::to_vec),
        max_message_size: options.fixed::<2>(57)?.map(u16::from_be_bytes),
        parameter_list: options.get(55).map(<[u8]>::to_vec).unwrap_or_default(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid request: header, cookie, then `options` verbatim.
    pub(crate) fn raw_request(hlen: u8, options: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; FIXED_LEN];
        p[0] = 1;
        p[1] = 1;
        p[2] = hlen;
        p[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        p[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&MAGIC);
        p.extend_from_slice(options);
        p
    }

    #[test]
    fn parses_a_discover() {
        let mut opts = vec![53, 1, 1, 60, 6];
        opts.extend_from_slice(b"Arista");
        opts.extend_from_slice(&[61, 3, 1, 2, 3, 57, 2, 5, 220, 12, 2, 0xff, 0xfe, 255]);
        let r = parse_request(&raw_request(6, &opts)).unwrap();
        assert_eq!(r.message_type, MessageType::Discover);
        assert_eq!(r.chaddr, [2, 0, 0, 0, 0, 1]);
        assert_eq!(r.vendor_class.as_deref(), Some(&b"Arista"[..]));
        assert_eq!(r.client_id.as_deref(), Some(&[1, 2, 3][..]));
        assert_eq!(r.max_message_size, Some(1500));
        assert_eq!(
            r.hostname.as_deref(),
            Some(&[0xff, 0xfe][..]),
            "non-UTF-8 kept, not fatal"
        );
        assert_eq!(r.xid, 0x1234_5678);
    }

    /// Found by the handle_request fuzz target: repeated option 61 instances
    /// concatenated into a 2 KB client id, which the reply echoed past 1500 bytes.
    #[test]
    fn refuses_a_client_id_longer_than_one_option() {
        let mut opts = vec![53, 1, 1];
        for _ in 0..6 {
            opts.push(61);
            opts.push(200);
            opts.extend_from_slice(&[7; 200]);
        }
        opts.push(255);
        assert_eq!(
            parse_request(&raw_request(6, &opts)),
            Err(Malformed::BadOptionLength {
                code: 61,
                len: 1200
            })
        );
        let mut opts = vec![53, 1, 1, 61, 255];
        opts.extend_from_slice(&[7; 255]);
        opts.push(255);
        assert_eq!(
            parse_request(&raw_request(6, &opts))
                .unwrap()
                .client_id
                .map(|id| id.len()),
            Some(255)
        );
    }

    #[test]
    fn refuses_the_malformed_corpus() {
        let ok = [53, 1, 1, 255];
        assert_eq!(
            parse_request(&raw_request(0, &ok)),
            Err(Malformed::BadHardwareLength(0))
        );
        assert_eq!(
            parse_request(&raw_request(17, &ok)),
            Err(Malformed::BadHardwareLength(17))
        );
        assert_eq!(
            parse_request(&raw_request(255, &ok)),
            Err(Malformed::BadHardwareLength(255))
        );
        assert_eq!(
            parse_request(&raw_request(6, &ok)[..100]),
            Err(Malformed::TooShort(100))
        );
        let mut bad_cookie = raw_request(6, &ok);
        bad_cookie[236] = 0;
        assert_eq!(parse_request(&bad_cookie), Err(Malformed::BadMagicCookie));
        assert_eq!(
            parse_request(&raw_request(6, &[53, 1, 1, 60, 40, b'A'])),
            Err(Malformed::OptionOverrun { code: 60 })
        );
        assert_eq!(
            parse_request(&raw_request(6, &[53, 2, 1, 1])),
            Err(Malformed::BadOptionLength { code: 53, len: 2 })
        );
        assert_eq!(
            parse_request(&raw_request(6, &[255])),
            Err(Malformed::MissingMessageType)
        );
        assert_eq!(
            parse_request(&raw_request(6, &[53, 1, 2, 255])),
            Err(Malformed::UnexpectedMessageType(2))
        );
        assert_eq!(
            parse_request(&raw_request(6, &[53, 1, 1, 50])),
            Err(Malformed::OptionOverrun { code: 50 })
        );
    }

    #[test]
    fn overloaded_file_field_carries_options() {
        let mut p = raw_request(6, &[53, 1, 1, 52, 1, 1, 255]);
        p[108..116].copy_from_slice(&[60, 6, b'A', b'r', b'i', b's', b't', b'a']);
        let r = parse_request(&p).unwrap();
        assert_eq!(r.vendor_class.as_deref(), Some(&b"Arista"[..]));
    }
}
