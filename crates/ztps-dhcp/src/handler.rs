//! The request handler: bytes in, at most one reply out. No sockets and no
//! clock here, so that tests and the fuzzer drive it directly.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use ztps_net::iftable::Interface;

use crate::class::{VendorInfo, is_member, parse_vendor_class};
use crate::config::ServerConfig;
use crate::event::{Event, MacAddr};
use crate::journal::Record;
use crate::leases::{Lease, LeaseState, LeaseTable, OFFER_HOLD_SECS};
use crate::metrics::Metrics;
use crate::packet::{MessageType, Request, parse_request};
use crate::pool::{PoolKind, Selected, Subnets, direct_pool, relayed_pool};
use crate::quiet::Quiet;
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
    /// For a unicast to a client that has no address yet (RFC 2131 4.1):
    /// its MAC, for the neighbour entry the kernel needs to reach `to`.
    /// The server broadcasts instead when it cannot set the entry.
    pub neighbour: Option<MacAddr>,
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
    /// Outstanding offers on explicit subnets per ifindex, oldest first:
    /// `(address, hold expiry)`.
    offers: HashMap<u32, VecDeque<(Ipv4Addr, u64)>>,
    /// Per-packet log lines and events, folded per kind and interface.
    quiet: Quiet,
}

impl State {
    pub fn new(config: Arc<ServerConfig>, metrics: Arc<Metrics>) -> State {
        State {
            subnets: Subnets::new(&config),
            limiter: RateLimiter::new(config.rate_limit.clone()),
            leases: LeaseTable::default(),
            events: Vec::new(),
            records: Vec::new(),
            offers: HashMap::new(),
            quiet: Quiet::default(),
            config,
            metrics,
        }
    }

    pub fn leases(&self) -> &LeaseTable {
        &self.leases
    }

    pub fn metrics_snapshot(&self) -> crate::metrics::MetricsSnapshot {
        self.metrics.snapshot()
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
    // The interface's budget comes before any parsing: a flood of large
    // datagrams costs no more than the budget's worth of parses.
    if !state
        .limiter
        .allow_interface(ingress.interface.index, now_ms)
    {
        Metrics::inc(&state.metrics.rate_limited);
        return None;
    }
    let interface = ingress.interface.name.as_str();
    let request = match parse_request(packet) {
        Ok(request) => request,
        Err(why) => {
            Metrics::inc(&state.metrics.malformed);
            if let Some(suppressed) = state.quiet.allow("malformed", interface, now_ms) {
                tracing::debug!(%interface, source = %ingress.source, %why, suppressed, "malformed packet");
                state.events.push(Event::Malformed {
                    interface: interface.to_string(),
                    reason: why.to_string(),
                });
            }
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
    // ZTP clients are Ethernet switches; a lease names a MAC.
    let Some(mac) = (request.htype == 1)
        .then(|| MacAddr::from_slice(&request.chaddr))
        .flatten()
    else {
        Metrics::inc(&state.metrics.ignored_not_served);
        return None;
    };
    if !state.limiter.allow_client(&request.chaddr, now_ms) {
        Metrics::inc(&state.metrics.rate_limited);
        return None;
    }
    let selected = if request.giaddr.is_unspecified() {
        direct_pool(&state.config, &ingress.interface)
    } else {
        relayed_pool(
            &state.config,
            &ingress.interface,
            request.giaddr,
            ingress.source,
        )
    };
    let Some(selected) = selected else {
        Metrics::inc(&state.metrics.ignored_not_served);
        if let Some(suppressed) = state.quiet.allow("not served", interface, now_ms) {
            tracing::debug!(%interface, giaddr = %request.giaddr, source = %ingress.source, suppressed, "request on an interface, relay or subnet not served");
        }
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
        mac,
        now: now_ms / 1000,
        now_ms,
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
    mac: MacAddr,
    now: u64,
    now_ms: u64,
}

impl Context<'_> {
    fn mac(&self) -> MacAddr {
        self.mac
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
        let pool = ctx.selected.name(&ctx.ingress.interface.name);
        if let Some(suppressed) = state.quiet.allow("pool exhausted", &pool, ctx.now_ms) {
            tracing::warn!(%pool, suppressed, "pool exhausted");
            state.events.push(Event::PoolExhausted {
                interface: ctx.interface(),
                pool,
            });
        }
        return None;
    };
    // A client that already holds the address keeps its bound lease; an
    // offer must not shorten or un-bind it.
    let bound = state
        .leases
        .at(ip, ctx.now)
        .is_some_and(|l| l.state == LeaseState::Bound && l.client_key == ctx.request.client_key());
    if !bound {
        let hold = ctx.now + OFFER_HOLD_SECS;
        state
            .leases
            .insert(lease(ctx, ip, LeaseState::Offered, hold));
        if matches!(ctx.selected.kind, PoolKind::Subnet(_)) {
            cap_offers(state, ctx.ingress.interface.index, ip, hold, ctx.now);
        }
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

/// Keeps at most `max_offers_per_interface` offers outstanding on one
/// interface: the oldest makes way. Spoofed DISCOVERs then hold a bounded
/// part of a pool, and a real client's offer, being recent, survives the
/// few milliseconds until its REQUEST.
fn cap_offers(state: &mut State, ifindex: u32, ip: Ipv4Addr, hold: u64, now: u64) {
    let cap = state.config.max_offers_per_interface;
    if cap == 0 {
        return;
    }
    let State {
        offers,
        leases,
        metrics,
        ..
    } = state;
    let queue = offers.entry(ifindex).or_default();
    queue.push_back((ip, hold));
    if queue.len() <= cap {
        return;
    }
    let outstanding = |leases: &LeaseTable, ip: Ipv4Addr, hold: u64| {
        leases
            .at(ip, now)
            .is_some_and(|l| l.state == LeaseState::Offered && l.expires == hold)
    };
    // Offers that were requested, taken over or lapsed no longer count.
    queue.retain(|&(ip, hold)| outstanding(leases, ip, hold));
    while queue.len() > cap {
        let Some((oldest, hold)) = queue.pop_front() else {
            break;
        };
        if outstanding(leases, oldest, hold) {
            leases.remove(oldest);
            Metrics::inc(&metrics.offers_evicted);
        }
    }
}

fn lease(ctx: &Context<'_>, ip: Ipv4Addr, state: LeaseState, expires: u64) -> Lease {
    Lease {
        ip,
        client_key: ctx.request.client_key(),
        hwaddr: ctx.mac,
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
    // Every REQUEST renews (RFC 2131 4.3.2): a full lease time from now, in
    // a new durable record, since after a crash the journal's older expiry
    // would free the address while the client still uses it. Only a
    // retransmission within the same second promises nothing new: its
    // record, with the same expiry, is already in this batch or an earlier
    // one, and its ACK waits for this batch's sync like every ACK.
    let expires = ctx.now + u64::from(lease_time);
    let unchanged = state.leases.at(ip, ctx.now).is_some_and(|l| {
        l.state == LeaseState::Bound
            && l.client_key == client_key
            && l.hwaddr == ctx.mac
            && l.serial == ctx.vendor.serial
            && l.expires == expires
    });
    let record = if unchanged {
        None
    } else {
        let new = lease(ctx, ip, LeaseState::Bound, expires);
        if let Some(previous) = state.leases.at(ip, ctx.now)
            && previous.client_key != new.client_key
            && previous.state == LeaseState::Bound
            && let Some(suppressed) = state.quiet.allow("moves", "", ctx.now_ms)
        {
            tracing::info!(%ip, previous = %previous.hwaddr, new = %ctx.mac(), suppressed, "address changes hands");
        }
        state.leases.insert(new);
        Some(Record::Bind {
            ip,
            client_key,
            hwaddr: ctx.mac.0.to_vec(),
            expires,
            serial: ctx.vendor.serial.clone(),
        })
    };
    let lease_secs = lease_time;
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
    // Only an address of the pool of the link it arrived on: a DECLINE sent
    // on another port must not park someone else's address.
    if !state.subnets.contains(ctx.selected, ip) {
        Metrics::inc(&state.metrics.ignored_not_served);
        return;
    }
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
    if let Some(suppressed) = state.quiet.allow("declined", "", ctx.now_ms) {
        tracing::warn!(%ip, mac = %ctx.mac(), suppressed, "address declined; on probation");
    }
    state.events.push(Event::Decline {
        interface: ctx.interface(),
        mac: ctx.mac(),
        ip,
    });
}

fn release(state: &mut State, ctx: &Context<'_>) {
    let r = ctx.request;
    if !state.subnets.contains(ctx.selected, r.ciaddr) {
        Metrics::inc(&state.metrics.ignored_not_served);
        return;
    }
    let ours = state
        .leases
        .at(r.ciaddr, ctx.now)
        .filter(|l| l.client_key == r.client_key() && l.state == LeaseState::Bound)
        .cloned();
    if let Some(lease) = ours {
        // Free for anyone, but the same client gets it back first.
        state.leases.insert(Lease {
            state: LeaseState::Released,
            ..lease
        });
        state.records.push(Record::Release { ip: r.ciaddr });
    }
}

/// Where a reply goes (RFC 2131 section 4.1), and the MAC to reach it by
/// when the client has no address yet.
fn destination(
    request: &Request,
    kind: ReplyKind,
    yiaddr: Ipv4Addr,
    mac: MacAddr,
) -> (SocketAddrV4, Option<MacAddr>) {
    let broadcast = (SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT), None);
    if !request.giaddr.is_unspecified() {
        (SocketAddrV4::new(request.giaddr, SERVER_PORT), None)
    } else if kind == ReplyKind::Nak {
        broadcast
    } else if !request.ciaddr.is_unspecified() {
        (SocketAddrV4::new(request.ciaddr, CLIENT_PORT), None)
    } else if request.broadcast || yiaddr.is_unspecified() {
        broadcast
    } else {
        (SocketAddrV4::new(yiaddr, CLIENT_PORT), Some(mac))
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
    let reply = ReplyFields {
        kind,
        request: r,
        selected: ctx.selected,
        config: &state.config,
        yiaddr,
        lease_secs,
    };
    let limit = usize::from(r.max_message_size.unwrap_or(576).max(576)) - IP_UDP_HEADERS;
    // Shed what the client can live without until the reply fits.
    let mut shed = 0;
    let mut packet = reply.encode(shed);
    while packet.len() > limit && shed < SHEDDABLE {
        shed += 1;
        packet = reply.encode(shed);
    }
    if packet.len() < MIN_REPLY_LEN {
        packet.resize(MIN_REPLY_LEN, 0);
    }
    let (to, neighbour) = destination(r, kind, yiaddr, ctx.mac);
    Reply {
        kind,
        packet,
        to,
        ifindex: ctx.ingress.interface.index,
        from: ctx.selected.server_ip,
        durable,
        on_sent: None,
        neighbour,
    }
}

/// Options a reply drops, in this order, when it does not fit the client's
/// maximum message size: NTP servers, DNS servers, the bootfile name.
const SHEDDABLE: u8 = 3;
const OPT_SUBNET_MASK: u8 = 1;
const OPT_ROUTER: u8 = 3;
const OPT_DNS: u8 = 6;
const OPT_NTP: u8 = 42;
const OPT_LEASE_TIME: u8 = 51;
const OPT_MESSAGE_TYPE: u8 = 53;
const OPT_SERVER_ID: u8 = 54;
const OPT_RENEWAL: u8 = 58;
const OPT_REBINDING: u8 = 59;
const OPT_CLIENT_ID: u8 = 61;
const OPT_BOOTFILE: u8 = 67;
const OPT_END: u8 = 255;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

/// What a reply says, encoded straight into its bytes (RFC 2131 section
/// 2 and 3): no intermediate message and option map per packet.
struct ReplyFields<'a> {
    kind: ReplyKind,
    request: &'a Request,
    selected: &'a Selected,
    config: &'a ServerConfig,
    yiaddr: Ipv4Addr,
    lease_secs: u32,
}

impl ReplyFields<'_> {
    /// The reply without the last `shed` of the sheddable options.
    fn encode(&self, shed: u8) -> Vec<u8> {
        let r = self.request;
        let nak = self.kind == ReplyKind::Nak;
        let mut out = Vec::with_capacity(MIN_REPLY_LEN + 64);
        let broadcast = r.broadcast || (nak && !r.giaddr.is_unspecified());
        let chaddr = r.chaddr.get(..r.chaddr.len().min(16)).unwrap_or(&[]);
        out.extend_from_slice(&[2, r.htype, chaddr.len() as u8, 0]);
        out.extend_from_slice(&r.xid.to_be_bytes());
        out.extend_from_slice(&[0, 0]); // secs
        out.extend_from_slice(&(if broadcast { 0x8000u16 } else { 0 }).to_be_bytes());
        // INFORM and REQUEST replies echo ciaddr; others carry the address
        // in yiaddr. A NAK carries neither.
        let echo_ciaddr = !nak
            && (r.message_type == MessageType::Inform || r.message_type == MessageType::Request);
        let ciaddr = if echo_ciaddr {
            r.ciaddr
        } else {
            Ipv4Addr::UNSPECIFIED
        };
        let yiaddr = if nak {
            Ipv4Addr::UNSPECIFIED
        } else {
            self.yiaddr
        };
        out.extend_from_slice(&ciaddr.octets());
        out.extend_from_slice(&yiaddr.octets());
        out.extend_from_slice(&[0; 4]); // siaddr
        out.extend_from_slice(&r.giaddr.octets());
        let mut chaddr_field = [0u8; 16];
        chaddr_field[..chaddr.len()].copy_from_slice(chaddr);
        out.extend_from_slice(&chaddr_field);
        out.extend_from_slice(&[0; 64]); // sname
        let mut file = [0u8; 128];
        let url = self.config.bootstrap_url.as_bytes();
        if !nak && url.len() < 128 {
            file[..url.len()].copy_from_slice(url);
        }
        out.extend_from_slice(&file);
        out.extend_from_slice(&MAGIC_COOKIE);
        put_option(
            &mut out,
            OPT_MESSAGE_TYPE,
            &[match self.kind {
                ReplyKind::Offer => 2,
                ReplyKind::Ack => 5,
                ReplyKind::Nak => 6,
            }],
        );
        put_option(&mut out, OPT_SERVER_ID, &self.selected.server_ip.octets());
        // RFC 6842: a client identifier comes back as it was sent.
        if let Some(id) = &r.client_id {
            put_option(&mut out, OPT_CLIENT_ID, id);
        }
        if !nak {
            if r.message_type != MessageType::Inform {
                let t = self.lease_secs;
                put_option(&mut out, OPT_LEASE_TIME, &t.to_be_bytes());
                put_option(&mut out, OPT_RENEWAL, &(t / 2).to_be_bytes());
                put_option(&mut out, OPT_REBINDING, &(t / 8 * 7).to_be_bytes());
            }
            put_option(&mut out, OPT_SUBNET_MASK, &self.selected.mask.octets());
            put_option(&mut out, OPT_ROUTER, &self.selected.router.octets());
            if shed < 2 && !self.config.dns_servers.is_empty() {
                put_addresses(&mut out, OPT_DNS, &self.config.dns_servers);
            }
            if shed < 1 && !self.config.ntp_servers.is_empty() {
                put_addresses(&mut out, OPT_NTP, &self.config.ntp_servers);
            }
            if shed < 3 {
                put_option(&mut out, OPT_BOOTFILE, url);
            }
        }
        out.push(OPT_END);
        out
    }
}

/// One option; a value longer than 255 bytes is split into instances of
/// the same code (RFC 3396), as a decoder then joins them again.
fn put_option(out: &mut Vec<u8>, code: u8, value: &[u8]) {
    if value.is_empty() {
        out.extend_from_slice(&[code, 0]);
    }
    for chunk in value.chunks(usize::from(u8::MAX)) {
        out.extend_from_slice(&[code, chunk.len() as u8]);
        out.extend_from_slice(chunk);
    }
}

fn put_addresses(out: &mut Vec<u8>, code: u8, addresses: &[Ipv4Addr]) {
    let bytes: Vec<u8> = addresses.iter().flat_map(|a| a.octets()).collect();
    put_option(out, code, &bytes);
}
