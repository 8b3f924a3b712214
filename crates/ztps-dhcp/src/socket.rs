//! The one server socket: `0.0.0.0:67`, broadcast allowed, `IP_PKTINFO` on,
//! so that every datagram carries its ingress interface and every reply can
//! be sent out of a chosen interface from a chosen address.

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use nix::libc;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, recvmsg,
    sendmsg, setsockopt, sockopt,
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

/// Receives several datagrams per system call (`recvmmsg`), into buffers
/// kept from call to call: at a few hundred datagrams a second each
/// wake-up finds one, and a single call returns it without the second
/// call that would only say "no more".
pub struct MultiReceiver {
    buf: Vec<u8>,
    size: usize,
    count: usize,
    headers: MultiHeaders<SockaddrIn>,
    received: Vec<Received>,
}

impl std::fmt::Debug for MultiReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiReceiver")
            .field("count", &self.count)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

fn headers(count: usize) -> MultiHeaders<SockaddrIn> {
    MultiHeaders::preallocate(count, Some(nix::cmsg_space!(libc::in_pktinfo)))
}

impl MultiReceiver {
    /// Room for `count` datagrams of up to `size` bytes each.
    pub fn new(count: usize, size: usize) -> MultiReceiver {
        let (count, size) = (count.max(1), size.max(1));
        MultiReceiver {
            buf: vec![0u8; count * size],
            size,
            count,
            headers: headers(count),
            received: Vec::with_capacity(count),
        }
    }

    /// Receives what is queued, up to the room there is (non-blocking:
    /// `WouldBlock` when nothing is). Returns how many datagrams arrived.
    pub fn recv(&mut self, fd: RawFd) -> std::io::Result<usize> {
        let MultiReceiver {
            buf,
            size,
            count,
            headers: hdrs,
            received,
        } = self;
        received.clear();
        let mut slices: [[IoSliceMut<'_>; 1]; RECV_SLOTS_MAX] =
            std::array::from_fn(|_| [IoSliceMut::new(&mut [])]);
        for (slot, chunk) in slices.iter_mut().zip(buf.chunks_mut(*size)) {
            *slot = [IoSliceMut::new(chunk)];
        }
        let used = (*count).min(RECV_SLOTS_MAX);
        let results = recvmmsg(
            fd,
            hdrs,
            slices.iter_mut().take(used),
            MsgFlags::MSG_DONTWAIT,
            None,
        )?;
        for msg in results {
            let mut ifindex = 0;
            if let Ok(cmsgs) = msg.cmsgs() {
                for cmsg in cmsgs {
                    if let ControlMessageOwned::Ipv4PacketInfo(info) = cmsg {
                        ifindex = u32::try_from(info.ipi_ifindex).unwrap_or(0);
                    }
                }
            }
            let source = msg
                .address
                .map(SocketAddrV4::from)
                .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
            received.push(Received {
                len: msg.bytes,
                source,
                ifindex,
            });
        }
        // The kernel writes the control length it used back into the
        // headers, which are reused: one datagram without IP_PKTINFO would
        // leave no room for it in the next call. Start afresh then.
        if received.iter().any(|r| r.ifindex == 0) {
            *hdrs = headers(*count);
        }
        Ok(received.len())
    }

    /// The `i`th datagram of the last [`MultiReceiver::recv`].
    pub fn get(&self, i: usize) -> Option<(Received, &[u8])> {
        let received = *self.received.get(i)?;
        let start = i * self.size;
        let len = received.len.min(self.size);
        Some((received, self.buf.get(start..start + len)?))
    }
}

/// The most datagrams one [`MultiReceiver::recv`] takes.
pub const RECV_SLOTS_MAX: usize = 16;

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
