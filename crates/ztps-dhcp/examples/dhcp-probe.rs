//! Measures how soon a link is served: `dhcp-probe IFACE TIMEOUT_MS`.
//! Start it while IFACE is still down. It watches the carrier in sysfs
//! (run it under `ip netns exec`, which mounts the namespace's sysfs) and
//! sends an Arista-class DISCOVER every millisecond (a new MAC each time, so
//! no server's per-client limit interferes). Prints
//! `linkup_to_offer_us N` (carrier up to first OFFER), or `no_offer` when
//! nothing answers within TIMEOUT_MS of carrier up.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

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
    nix::sys::socket::setsockopt(
        &socket,
        nix::sys::socket::sockopt::BindToDevice,
        &iface.clone().into(),
    )?;
    socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into())?;
    let socket: std::net::UdpSocket = socket.into();
    socket.set_read_timeout(Some(Duration::from_millis(1)))?;
    let carrier = format!("/sys/class/net/{iface}/carrier");
    let started = Instant::now();
    let mut up: Option<Instant> = None;
    let mut n: u32 = 0;
    let mut buf = [0u8; 1500];
    loop {
        if up.is_none() && std::fs::read_to_string(&carrier).is_ok_and(|c| c.trim() == "1") {
            up = Some(Instant::now());
        }
        match up {
            Some(at) if at.elapsed() > timeout => break,
            None if started.elapsed() > timeout * 5 => anyhow::bail!("{iface} never came up"),
            _ => {}
        }
        n += 1;
        let b = n.to_be_bytes();
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(n, z, z, z, z, &[0x02, 0x7e, b[0], b[1], b[2], b[3]]);
        m.set_flags(Flags::default().set_broadcast());
        m.opts_mut()
            .insert(DhcpOption::MessageType(MessageType::Discover));
        m.opts_mut().insert(DhcpOption::ClassIdentifier(
            b"Arista;DCS-7050SX3-48YC8;11.00;JPE12345678".to_vec(),
        ));
        let _ = socket.send_to(&m.to_vec()?, (Ipv4Addr::BROADCAST, 67));
        if let Ok((len, _)) = socket.recv_from(&mut buf)
            && let Ok(reply) = Message::decode(&mut Decoder::new(&buf[..len]))
            && reply.opts().msg_type() == Some(MessageType::Offer)
        {
            let since_up = up.map(|at| at.elapsed().as_micros()).unwrap_or(0);
            println!("linkup_to_offer_us {since_up}");
            return Ok(());
        }
    }
    println!("no_offer");
    Ok(())
}
