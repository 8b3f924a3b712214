//! Measures how soon a link is served: `dhcp-probe IFACE TIMEOUT_MS`.
//! Sends an Arista-class DISCOVER (a new MAC each time, so no server's
//! per-client limit interferes) every 2 ms out of IFACE, ignoring send
//! errors while the link is still down, and prints the wall-clock time of
//! the first OFFER as `offer_at_ns N`, or `no_offer` after TIMEOUT_MS.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType};
use dhcproto::{Decodable, Decoder, Encodable};
use socket2::{Domain, Protocol, Socket, Type};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let iface = args.next().context("usage: dhcp-probe IFACE TIMEOUT_MS")?;
    let timeout = Duration::from_millis(args.next().context("TIMEOUT_MS")?.parse()?);
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_broadcast(true)?;
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::BindToDevice, &iface.clone().into())?;
    socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into())?;
    let socket: std::net::UdpSocket = socket.into();
    socket.set_read_timeout(Some(Duration::from_millis(2)))?;
    let start = Instant::now();
    let mut n: u32 = 0;
    let mut buf = [0u8; 1500];
    while start.elapsed() < timeout {
        n += 1;
        let b = n.to_be_bytes();
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(n, z, z, z, z, &[0x02, 0x7e, b[0], b[1], b[2], b[3]]);
        m.set_flags(Flags::default().set_broadcast());
        m.opts_mut().insert(DhcpOption::MessageType(MessageType::Discover));
        m.opts_mut().insert(DhcpOption::ClassIdentifier(
            b"Arista;DCS-7050SX3-48YC8;11.00;JPE12345678".to_vec(),
        ));
        let _ = socket.send_to(&m.to_vec()?, (Ipv4Addr::BROADCAST, 67));
        if let Ok((len, _)) = socket.recv_from(&mut buf)
            && let Ok(reply) = Message::decode(&mut Decoder::new(&buf[..len]))
            && reply.opts().msg_type() == Some(MessageType::Offer)
        {
            let at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
            println!("offer_at_ns {at}");
            return Ok(());
        }
    }
    println!("no_offer");
    Ok(())
}
