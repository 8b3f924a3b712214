//! The request handler: bytes in, at most one reply out. No sockets and no
//! clock here, so that tests and the fuzzer drive it directly.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use dhcproto::v4::{
    DhcpOption, Flags, HType, Message, MessageType as ReplyType, Opcode, OptionCode,
};
use dhcproto::{Encodable, Encoder};
use ztps_net::iftable::Interface;

use crate::class::{VendorInfo, is_member, parse_vendor_class};
use crate::config::ServerConfig;
use crate::event::{Event, HwAddr};
use crate::journal::Record;
use crate::leases::{Lease, LeaseState, LeaseTable, OFFER_HOLD_SECS};
use crate::metrics::Metrics;
use crate::packet::{MessageType, Request, parse_request};
use crate::pool::{Selected, Subnets};
use crate::ratelimit::RateLimiter;

/// Replies are padded to this length (RFC 1542 relays and old clients
/// drop shorter BOOTP messages).
const MIN_REPLY_LEN: usize = 300;
/// IP and UDP headers, which option 57 counts and our payload does not.
const IP_UDP_HEADERS: usize = 28;
const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;

/// Where a datagram came from.
#[derive(Debug, Clone)]
pub struct Ingress {
    /// The interface it arrived on (`ipi_ifindex`), as the table knows it.
    pub interface: Interface,
    pub source: SocketAddrV4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Offer,
    Ack,
    Nak,
}

/// A reply to send.
#[derive(Debug, Clone)]
pub struct Reply {
    pub kind: ReplyKind,
    pub packet: Vec<u8>,
    pub to: SocketAddrV4,
    /// Leave through this interface ...
    pub ifindex: u32,
    /// ... from this address.
    pub from: Ipv4Addr,
    /// When set, the reply may only be sent once this record is durable.
    pub durable: Option<Record>,
    /// The event to emit once the reply is sent (ACKs).
    pub on_sent: Option<Event>,
}

/// Everything the handler keeps between requests.
#[derive(Debug)]
pub struct State {
    config: Arc<ServerConfig>,
    subnets: Subnets,
    pub(crate) leases: LeaseTable,
    limiter: RateLimiter,
    pub(crate) metrics: Arc<Metrics>,
    /// Events produced since the server last drained them.
    pub(crate) events: Vec<Event>,
    /// Records to journal that no reply waits for (RELEASE, DECLINE).
    pub(crate) records: Vec<Record>,
}

impl State {
    pub fn new(config: Arc<ServerConfig>, metrics: Arc<Metrics>) -> State {
        State {
            subnets: Subnets::new(&config),
            limiter: RateLimiter::new(config.rate_limit.clone()),
            leases: LeaseTable::default(),
            events: Vec::new(),
            records: Vec::new(),
            config,
            metrics,
        }
    }

    pub fn leases(&self) -> &LeaseTable {
        &self.leases
    }

    /// Takes the events produced so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Takes the journal records produced without a reply.
    pub fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }
}

/// Handles one datagram received on `ingress` at `now_ms` (milliseconds
/// since the Unix epoch).
pub fn handle(state: &mut State, ingress: &Ingress, packet: &[u8], now_ms: u64) -> Option<Reply> {
    let interface = ingress.interface.name.clone();
    let request = match parse_request(packet) {
        Ok(request) => request,
        Err(why) => {
            Metrics::inc(&state.metrics.malformed);
            tracing::debug!(%interface, source = %ingress.source, %why, "malformed packet");
            state.events.push(Event::Malformed {
                interface,
                reason: why.to_string(),
            });
            return None;
        }
    };
    let m = &state.metrics;
    Metrics::inc(match request.message_type {
        MessageType::Discover => &m.received_discover,
        MessageType::Request => &m.received_request,
        MessageType::Decline => &m.received_decline,
        MessageType::Release => &m.received_release,
        MessageType::Inform => &m.received_inform,
    });
    if !is_member(
        request.vendor_class.as_deref(),
        &state.config.vendor_class_prefixes,
    ) {
        Metrics::inc(&state.metrics.ignored_non_class);
        return None;
    }
    if !state
        .limiter
        .allow(&request.chaddr, ingress.interface.index, now_ms)
    {
        Metrics::inc(&state.metrics.rate_limited);
        return None;
    }
    let Some(selected) = state
        .subnets
        .select(&state.config, &ingress.interface, &request)
    else {
        Metrics::inc(&state.metrics.ignored_not_served);
        tracing::debug!(%interface, "request on an interface or subnet not served");
        return None;
    };
    let vendor = request
        .vendor_class
        .as_deref()
        .map(parse_vendor_class)
        .unwrap_or_default();
    let ctx = Context {
        request: &request,
        vendor: &vendor,
        selected: &selected,
        ingress,
        now: now_ms / 1000,
    };
    match request.message_type {
        MessageType::Discover => discover(state, &ctx),
        MessageType::Request => request_(state, &ctx),
        MessageType::Decline => {
            decline(state, &ctx);
            None
        }
        MessageType::Release => {
            release(state, &ctx);
            None
        }
        MessageType::Inform => Some(build(
            state,
            &ctx,
            ReplyKind::Ack,
            Ipv4Addr::UNSPECIFIED,
            0,
            None,
        )),
    }
}

struct Context<'a> {
    request: &'a Request,
    vendor: &'a VendorInfo,
    selected: &'a Selected,
    ingress: &'a Ingress,
    now: u64,
}

impl Context<'_> {
    fn mac(&self) -> HwAddr {
        HwAddr(self.request.chaddr.clone())
    }

    fn interface(&self) -> String {
        self.ingress.interface.name.clone()
    }

    fn serial(&self) -> Option<&str> {
        self.vendor.serial.as_deref()
    }
}

fn discover(state: &mut State, ctx: &Context<'_>) -> Option<Reply> {
    state.events.push(Event::Discover {
        interface: ctx.interface(),
        mac: ctx.mac(),
        serial: ctx.vendor.serial.clone(),
        model: ctx.vendor.model.clone(),
    });
    let Some(ip) = state.subnets.allocate(
        ctx.selected,
        ctx.request,
        ctx.serial(),
        &state.leases,
        ctx.now,
    ) else {
        Metrics::inc(&state.metrics.pool_exhausted);
        tracing::warn!(pool = %ctx.selected.name, "pool exhausted");
        state.events.push(Event::PoolExhausted {
            interface: ctx.interface(),
            pool: ctx.selected.name.clone(),
        });
        return None;
    };
    // A client that already holds the address keeps its bound lease; an
    // offer must not shorten or un-bind it.
    let bound = state
        .leases
        .at(ip, ctx.now)
        .is_some_and(|l| l.state == LeaseState::Bound && l.client_key == ctx.request.client_key());
    if !bound {
        state.leases.insert(lease(
            ctx,
            ip,
            LeaseState::Offered,
            ctx.now + OFFER_HOLD_SECS,
        ));
    }
    state.events.push(Event::Offer {
        interface: ctx.interface(),
        mac: ctx.mac(),
        ip,
    });
    Some(build(
        state,
        ctx,
        ReplyKind::Offer,
        ip,
        state.config.lease_time,
        None,
    ))
}

fn lease(ctx: &Context<'_>, ip: Ipv4Addr, state: LeaseState, expires: u64) -> Lease {
    Lease {
        ip,
        client_key: ctx.request.client_key(),
        hwaddr: ctx.request.chaddr.clone(),
        serial: ctx.vendor.serial.clone(),
        state,
        expires,
    }
}

fn request_(state: &mut State, ctx: &Context<'_>) -> Option<Reply> {
    let r = ctx.request;
    let wanted = match (r.server_id, r.requested_ip, r.ciaddr.is_unspecified()) {
        // SELECTING: the client answers an offer, ours or someone else's.
        (Some(server_id), requested, _) => {
            if server_id != ctx.selected.server_ip {
                if let Some(l) = state.leases.of_client(&r.client_key(), ctx.now)
                    && l.state == LeaseState::Offered
                {
                    let ip = l.ip;
                    state.leases.remove(ip);
                }
                return None;
            }
            requested.or((!r.ciaddr.is_unspecified()).then_some(r.ciaddr))
        }
        // INIT-REBOOT: the client checks the address it remembers.
        (None, Some(requested), true) => Some(requested),
        // RENEWING (unicast) or REBINDING (broadcast).
        (None, _, false) => Some(r.ciaddr),
        (None, None, true) => None,
    };
    let Some(ip) = wanted else {
        return Some(nak(state, ctx, None, "REQUEST names no address"));
    };
    let acceptable =
        state
            .subnets
            .acceptable(ctx.selected, ip, r, ctx.serial(), &state.leases, ctx.now);
    if !acceptable {
        return Some(nak(
            state,
            ctx,
            Some(ip),
            "address is not valid for this client here",
        ));
    }
    let lease_time = state.config.lease_time;
    let client_key = r.client_key();
    // When a sync may be skipped: the client asks again for the lease it
    // already holds, bound no longer ago than an eighth of the lease time
    // (a retransmitted REQUEST, a reboot right after ZTP). It then gets the
    // lease's remaining time and no new record, because the record that
    // promised that expiry is already durable: the server sends an ACK only
    // after the sync of its batch, and the ACK that bound this lease was in
    // the same batch or an earlier one. Anything that moves the expiry (a
    // renewal at T1) or changes the record (another MAC or serial) needs a
    // new durable record: after a crash the journal's older expiry would
    // free the address while the client still uses it.
    let reused = state.leases.at(ip, ctx.now).and_then(|l| {
        let remaining = l.expires.saturating_sub(ctx.now);
        (l.state == LeaseState::Bound
            && l.client_key == client_key
            && l.hwaddr == r.chaddr
            && l.serial == ctx.vendor.serial
            && remaining >= u64::from(lease_time - lease_time / 8))
        .then(|| {
            u32::try_from(remaining)
                .unwrap_or(lease_time)
                .min(lease_time)
        })
    });
    let (lease_secs, record) = match reused {
        Some(remaining) => (remaining, None),
        None => {
            let expires = ctx.now + u64::from(lease_time);
            let new = lease(ctx, ip, LeaseState::Bound, expires);
            if let Some(previous) = state.leases.at(ip, ctx.now)
                && previous.client_key != new.client_key
            {
                tracing::info!(%ip, previous = %HwAddr(previous.hwaddr.clone()), new = %ctx.mac(), "address changes hands");
            }
            state.leases.insert(new);
            let record = Record::Bind {
                ip,
                client_key,
                hwaddr: r.chaddr.clone(),
                expires,
                serial: ctx.vendor.serial.clone(),
            };
            (lease_time, Some(record))
        }
    };
    let event = Event::Ack {
        interface: ctx.interface(),
        mac: ctx.mac(),
        ip,
        serial: ctx.vendor.serial.clone(),
        lease_secs,
    };
    let mut reply = build(state, ctx, ReplyKind::Ack, ip, lease_secs, record);
    reply.on_sent = Some(event);
    Some(reply)
}

fn nak(
    state: &mut State,
    ctx: &Context<'_>,
    requested: Option<Ipv4Addr>,
    reason: &'static str,
) -> Reply {
    state.events.push(Event::Nak {
        interface: ctx.interface(),
        mac: ctx.mac(),
        requested,
        reason,
    });
    build(state, ctx, ReplyKind::Nak, Ipv4Addr::UNSPECIFIED, 0, None)
}

fn decline(state: &mut State, ctx: &Context<'_>) {
    let r = ctx.request;
    let (Some(ip), true) = (
        r.requested_ip,
        r.server_id.is_none_or(|s| s == ctx.selected.server_ip),
    ) else {
        return;
    };
    let ours = state
        .leases
        .at(ip, ctx.now)
        .is_some_and(|l| l.client_key == r.client_key());
    if !ours {
        return;
    }
    let until = ctx.now + u64::from(state.config.decline_probation);
    state.leases.insert(Lease {
        client_key: Vec::new(),
        ..lease(ctx, ip, LeaseState::Probation, until)
    });
    state.records.push(Record::Release { ip });
    tracing::warn!(%ip, mac = %ctx.mac(), "address declined; on probation");
    state.events.push(Event::Decline {
        interface: ctx.interface(),
        mac: ctx.mac(),
        ip,
    });
}

fn release(state: &mut State, ctx: &Context<'_>) {
    let r = ctx.request;
    let ours = state
        .leases
        .at(r.ciaddr, ctx.now)
        .is_some_and(|l| l.client_key == r.client_key() && l.state == LeaseState::Bound);
    if ours {
        state.leases.remove(r.ciaddr);
        state.records.push(Record::Release { ip: r.ciaddr });
    }
}

/// Where a reply goes (RFC 2131 section 4.1).
fn destination(request: &Request, kind: ReplyKind) -> SocketAddrV4 {
    if !request.giaddr.is_unspecified() {
        SocketAddrV4::new(request.giaddr, SERVER_PORT)
    } else if kind != ReplyKind::Nak && !request.ciaddr.is_unspecified() {
        SocketAddrV4::new(request.ciaddr, CLIENT_PORT)
    } else {
        SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
    }
}

fn build(
    state: &State,
    ctx: &Context<'_>,
    kind: ReplyKind,
    yiaddr: Ipv4Addr,
    lease_secs: u32,
    durable: Option<Record>,
) -> Reply {
    let r = ctx.request;
    let config = &state.config;
    let mut msg = Message::default();
    let broadcast = r.broadcast || (kind == ReplyKind::Nak && !r.giaddr.is_unspecified());
    msg.set_opcode(Opcode::BootReply)
        .set_htype(HType::from(r.htype))
        .set_xid(r.xid)
        .set_flags(if broadcast {
            Flags::default().set_broadcast()
        } else {
            Flags::default()
        })
        .set_giaddr(r.giaddr)
        .set_chaddr(&r.chaddr);
    if kind != ReplyKind::Nak {
        // INFORM replies echo ciaddr; others carry the address in yiaddr.
        if r.message_type == MessageType::Inform || r.message_type == MessageType::Request {
            msg.set_ciaddr(r.ciaddr);
        }
        msg.set_yiaddr(yiaddr);
        if config.bootstrap_url.len() < 128 {
            msg.set_fname_str(&config.bootstrap_url);
        }
    }
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(match kind {
        ReplyKind::Offer => ReplyType::Offer,
        ReplyKind::Ack => ReplyType::Ack,
        ReplyKind::Nak => ReplyType::Nak,
    }));
    opts.insert(DhcpOption::ServerIdentifier(ctx.selected.server_ip));
    if kind != ReplyKind::Nak {
        if r.message_type != MessageType::Inform {
            opts.insert(DhcpOption::AddressLeaseTime(lease_secs));
            opts.insert(DhcpOption::Renewal(lease_secs / 2));
            opts.insert(DhcpOption::Rebinding(lease_secs / 8 * 7));
        }
        opts.insert(DhcpOption::SubnetMask(ctx.selected.mask));
        opts.insert(DhcpOption::Router(vec![ctx.selected.router]));
        if !config.dns_servers.is_empty() {
            opts.insert(DhcpOption::DomainNameServer(config.dns_servers.clone()));
        }
        if !config.ntp_servers.is_empty() {
            opts.insert(DhcpOption::NtpServers(config.ntp_servers.clone()));
        }
        opts.insert(DhcpOption::BootfileName(
            config.bootstrap_url.as_bytes().to_vec(),
        ));
    }
    let limit = usize::from(r.max_message_size.unwrap_or(576).max(576)) - IP_UDP_HEADERS;
    let mut packet = encode(&msg);
    // Shed what the client can live without until the reply fits.
    for optional in [
        OptionCode::NtpServers,
        OptionCode::DomainNameServer,
        OptionCode::BootfileName,
    ] {
        if packet.len() <= limit {
            break;
        }
        msg.opts_mut().remove(optional);
        packet = encode(&msg);
    }
    if packet.len() < MIN_REPLY_LEN {
        packet.resize(MIN_REPLY_LEN, 0);
    }
    Reply {
        kind,
        packet,
        to: destination(r, kind),
        ifindex: ctx.ingress.interface.index,
        from: ctx.selected.server_ip,
        durable,
        on_sent: None,
    }
}

fn encode(msg: &Message) -> Vec<u8> {
    let mut buf = Vec::with_capacity(MIN_REPLY_LEN);
    // Encoding into a Vec cannot run out of room; an error would mean an
    // option we built is invalid, which the reply then simply lacks.
    if let Err(e) = msg.encode(&mut Encoder::new(&mut buf)) {
        tracing::error!(error = %e, "cannot encode a reply");
    }
    buf
}
