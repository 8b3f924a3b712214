//! Watches links and IPv4 addresses over rtnetlink and keeps an
//! [`InterfaceTable`] current.
//!
//! The multicast subscription is made *before* the initial dump, on the same
//! socket, so that nothing that changes during the dump is missed: events
//! queued meanwhile are applied after it, and applying an event twice is
//! harmless.

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::{Handle, MulticastGroup};
use std::net::IpAddr;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::NetError;
use crate::iftable::{InterfaceTable, Ipv4Net};

/// A change the watcher applied to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A link appeared or changed (name, state or MAC).
    Link { index: u32, name: String, up: bool },
    /// A link disappeared.
    LinkRemoved { index: u32, name: String },
    /// An IPv4 address was added.
    AddressAdded { index: u32, net: Ipv4Net },
    /// An IPv4 address was removed.
    AddressRemoved { index: u32, net: Ipv4Net },
}

/// How many events a slow subscriber may fall behind before it starts to
/// miss some (it then sees `RecvError::Lagged`; the table stays exact).
const EVENT_BACKLOG: usize = 1024;

/// A running watcher. Dropping it stops the watch; the table keeps its last
/// contents.
#[derive(Debug)]
pub struct Watch {
    table: InterfaceTable,
    events: broadcast::Sender<NetEvent>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watch {
    /// Opens the netlink connection in the caller's network namespace,
    /// subscribes to link and IPv4 address events, fills `table` from a full
    /// dump and keeps applying events in a background task. Must be called
    /// inside a tokio runtime.
    pub async fn start(table: InterfaceTable) -> Result<Watch, NetError> {
        let (connection, handle, messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
        ])
        .map_err(NetError::Connect)?;
        let connection_task = tokio::spawn(connection);
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        if let Err(e) = dump(&handle, &table, &events).await {
            connection_task.abort();
            return Err(e);
        }
        let apply_task = tokio::spawn(apply_events(messages, table.clone(), events.clone()));
        tracing::debug!(
            interfaces = table.snapshot().len(),
            "interface table loaded"
        );
        Ok(Watch {
            table,
            events,
            tasks: vec![connection_task, apply_task],
        })
    }

    /// The table this watcher keeps current.
    pub fn table(&self) -> &InterfaceTable {
        &self.table
    }

    /// A receiver of every event applied from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NetEvent> {
        self.events.subscribe()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn dump(
    handle: &Handle,
    table: &InterfaceTable,
    events: &broadcast::Sender<NetEvent>,
) -> Result<(), NetError> {
    let mut links = handle.link().get().execute();
    while let Some(link) = links.next().await {
        let link = link.map_err(|e| NetError::NetlinkDump("links", e))?;
        apply_link(table, events, &link);
    }
    let mut addresses = handle.address().get().execute();
    while let Some(address) = addresses.next().await {
        let address = address.map_err(|e| NetError::NetlinkDump("addresses", e))?;
        apply_address(table, events, &address, true);
    }
    Ok(())
}

async fn apply_events(
    mut messages: UnboundedReceiver<(
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
    table: InterfaceTable,
    events: broadcast::Sender<NetEvent>,
) {
    while let Some((message, _)) = messages.next().await {
        let NetlinkPayload::InnerMessage(message) = message.payload else {
            continue;
        };
        match message {
            RouteNetlinkMessage::NewLink(link) => apply_link(&table, &events, &link),
            RouteNetlinkMessage::DelLink(link) => {
                if let Some(gone) = table.remove_link(link.header.index) {
                    tracing::debug!(index = gone.index, name = %gone.name, "link removed");
                    let _ = events.send(NetEvent::LinkRemoved {
                        index: gone.index,
                        name: gone.name,
                    });
                }
            }
            RouteNetlinkMessage::NewAddress(address) => {
                apply_address(&table, &events, &address, true)
            }
            RouteNetlinkMessage::DelAddress(address) => {
                apply_address(&table, &events, &address, false)
            }
            _ => {}
        }
    }
    tracing::warn!("netlink event stream ended; the interface table is no longer updated");
}

fn apply_link(table: &InterfaceTable, events: &broadcast::Sender<NetEvent>, link: &LinkMessage) {
    let mut name = None;
    let mut mac: &[u8] = &[];
    // A link without IFLA_LINKINFO is a physical port: kind "". Messages
    // always carry it for virtual links, so its absence is meaningful.
    let mut kind = String::new();
    for attribute in &link.attributes {
        match attribute {
            LinkAttribute::IfName(n) => name = Some(n.as_str()),
            LinkAttribute::Address(a) => mac = a,
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(k) = info {
                        kind = k.to_string();
                    }
                }
            }
            _ => {}
        }
    }
    let index = link.header.index;
    let Some(name) = name
        .or_else(|| table.get(index).map(|_| ""))
        .map(str::to_string)
    else {
        return;
    };
    // A name-less update of a known link keeps the known name.
    let name = if name.is_empty() {
        table.get(index).map(|i| i.name).unwrap_or_default()
    } else {
        name
    };
    let flags = link.header.flags;
    let up = flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running);
    let before = table.get(index);
    table.upsert_link(index, &name, up, mac, Some(&kind));
    let changed = before.is_none_or(|b| b.name != name || b.up != up || b.mac != mac);
    if changed {
        tracing::debug!(index, name = %name, up, "link");
        let _ = events.send(NetEvent::Link { index, name, up });
    }
}

fn apply_address(
    table: &InterfaceTable,
    events: &broadcast::Sender<NetEvent>,
    message: &AddressMessage,
    added: bool,
) {
    if message.header.family != AddressFamily::Inet {
        return;
    }
    // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours.
    let mut local = None;
    let mut address = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(IpAddr::V4(a)) => local = Some(*a),
            AddressAttribute::Address(IpAddr::V4(a)) => address = Some(*a),
            _ => {}
        }
    }
    let Some(addr) = local.or(address) else {
        return;
    };
    let index = message.header.index;
    let net = Ipv4Net {
        addr,
        prefix_len: message.header.prefix_len,
    };
    if added {
        table.add_address(index, net);
        tracing::debug!(index, %net, "address added");
        let _ = events.send(NetEvent::AddressAdded { index, net });
    } else if table.remove_address(index, net) {
        tracing::debug!(index, %net, "address removed");
        let _ = events.send(NetEvent::AddressRemoved { index, net });
    }
}
