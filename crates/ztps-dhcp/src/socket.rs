//! The one server socket: `0.0.0.0:67`, broadcast allowed, `IP_PKTINFO` on,
//! so that every datagram carries its ingress interface and every reply can
//! be sent out of a chosen interface from a chosen address.

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use nix::libc;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, sendmsg, setsockopt,
    sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};

use crate::DhcpError;

/// Socket receive buffer: about 1,500 queued requests (each costs ~2.5 KiB
/// of kernel memory), a quarter second at 6,000 requests/s.
const RECEIVE_BUFFER: usize = 4 << 20;

/// Binds the server socket (non-blocking, ready for tokio).
pub fn bind(port: u16) -> Result<std::net::UdpSocket, DhcpError> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(DhcpError::socket("create"))?;
    // No SO_REUSEADDR: another DHCP server on this port is an error to
    // report, not a socket to share datagrams with.
    socket
        .set_broadcast(true)
        .map_err(DhcpError::socket("SO_BROADCAST"))?;
    setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)
        .map_err(|e| DhcpError::socket("IP_PKTINFO")(e.into()))?;
    // The server does not read while it syncs the journal; a burst that
    // arrives during a slow sync waits here instead of being dropped. Past
    // net.core.rmem_max only with CAP_NET_ADMIN, so fall back to the capped
    // size, which is still better than the default.
    if setsockopt(&socket, sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err() {
        socket
            .set_recv_buffer_size(RECEIVE_BUFFER)
            .map_err(DhcpError::socket("SO_RCVBUF"))?;
    }
    socket
        .set_nonblocking(true)
        .map_err(DhcpError::socket("O_NONBLOCK"))?;
    socket
        .bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())
        .map_err(DhcpError::socket("bind 0.0.0.0:67"))?;
    Ok(socket.into())
}

/// One received datagram's metadata.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub len: usize,
    pub source: SocketAddrV4,
    /// `ipi_ifindex`; 0 if the kernel gave none.
    pub ifindex: u32,
}

/// Receives one datagram (non-blocking: `WouldBlock` when none is queued).
pub fn recv(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Received> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!(libc::in_pktinfo);
    let msg = recvmsg::<SockaddrIn>(fd, &mut iov, Some(&mut space), MsgFlags::empty())?;
    let mut ifindex = 0;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::Ipv4PacketInfo(info) = cmsg {
            ifindex = u32::try_from(info.ipi_ifindex).unwrap_or(0);
        }
    }
    let source = msg
        .address
        .map(SocketAddrV4::from)
        .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    Ok(Received {
        len: msg.bytes,
        source,
        ifindex,
    })
}

/// Sends `packet` to `to`, out of interface `ifindex`, from address `from`.
pub fn send(
    fd: RawFd,
    packet: &[u8],
    to: SocketAddrV4,
    ifindex: u32,
    from: Ipv4Addr,
) -> std::io::Result<usize> {
    let info = libc::in_pktinfo {
        ipi_ifindex: i32::try_from(ifindex).unwrap_or(0),
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(from).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    };
    let dest = SockaddrIn::from(to);
    let sent = sendmsg(
        fd,
        &[IoSlice::new(packet)],
        &[ControlMessage::Ipv4PacketInfo(&info)],
        MsgFlags::empty(),
        Some(&dest),
    )?;
    Ok(sent)
}

/// The raw descriptor of a socket, for [`recv`] and [`send`].
pub fn fd(socket: &impl AsRawFd) -> RawFd {
    socket.as_raw_fd()
}
