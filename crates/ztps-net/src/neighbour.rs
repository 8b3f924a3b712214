//! Neighbour (ARP) entries for the DHCP server's unicast replies.
//!
//! RFC 2131 section 4.1: a client that clears the broadcast flag gets its
//! OFFER and ACK by unicast to the address being offered, at its MAC. The
//! kernel would ARP for an address nobody holds yet, so the server first
//! tells it the MAC, as dnsmasq and ISC dhcpd do. The request is handled
//! by the kernel inside `send`, so the entry exists when it returns and
//! no await is needed on the hot path.

use std::io;
use std::net::Ipv4Addr;

use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::sys::protocols::NETLINK_ROUTE;
use rtnetlink::sys::{Socket, SocketAddr};

/// A netlink socket that writes neighbour entries, synchronously.
#[derive(Debug)]
pub struct Neighbours {
    socket: Socket,
    sequence: u32,
    buf: Vec<u8>,
}

impl Neighbours {
    /// Opens the socket in the caller's network namespace.
    pub fn open() -> io::Result<Neighbours> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        socket.set_non_blocking(true)?;
        Ok(Neighbours {
            socket,
            sequence: 0,
            buf: Vec::with_capacity(128),
        })
    }

    /// Maps `ip` to `mac` on interface `ifindex` (replacing any entry). The
    /// entry is `reachable`: the kernel revalidates it and lets it age out.
    pub fn set(&mut self, ifindex: u32, ip: Ipv4Addr, mac: [u8; 6]) -> io::Result<()> {
        let mut message = NeighbourMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.ifindex = ifindex;
        message.header.state = NeighbourState::Reachable;
        message.header.kind = RouteType::Unicast;
        message.attributes = vec![
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)),
            NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        ];
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(message));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        self.sequence = self.sequence.wrapping_add(1);
        request.header.sequence_number = self.sequence;
        request.finalize();
        self.buf.clear();
        self.buf.resize(request.buffer_len(), 0);
        request.serialize(&mut self.buf);
        self.socket.send(&self.buf, 0)?;
        // The answer was queued while `send` ran; read it (and any stale
        // one left by an earlier call) so the socket never fills up.
        let mut answer = [0u8; 1024];
        loop {
            let n = match self.socket.recv(&mut &mut answer[..], 0) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            let Some(bytes) = answer.get(..n) else {
                return Ok(());
            };
            let Ok(reply) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes) else {
                continue;
            };
            if reply.header.sequence_number != self.sequence {
                continue;
            }
            return match reply.payload {
                NetlinkPayload::Error(e) if e.code.is_some() => Err(e.to_io()),
                _ => Ok(()),
            };
        }
    }
}
