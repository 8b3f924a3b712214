//! The container backend: the appliance as a Docker container, driven
//! through the Docker Engine API on a unix socket (EOS `container-manager`
//! runs Docker; so does any Linux host).
//!
//! The container is attached to the spine's existing Linux bridge through a
//! Docker network of the `bridge` driver whose bridge *is* that bridge
//! (`com.docker.network.bridge.name`), with Docker told not to put an
//! address of its own on it. Its host-side veth is then an ordinary port of
//! the bridge, so the supervisor's attachment check, and its putting a
//! port back, work as for a VM's tap; the veth is known by the peer index
//! of the container's interface (docs/architecture.md says why not macvlan).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, EndpointIpamConfig, EndpointSettings,
    HostConfig, Ipam, IpamConfig, Mount, MountType, NetworkConnectRequest, NetworkCreateRequest,
    NetworkingConfig,
};
use bollard::query_parameters::{CreateContainerOptions, RestartContainerOptions};
use futures::StreamExt;
use ipnet::Ipv4Net;
use tracing::{debug, info};

use crate::control::check_name;
use crate::{MacAddr, VmControl, VmError, VmInterface, VmState};

/// Where the appliance image reads its Day-1 seed inside the container.
pub const SEED_MOUNT: &str = "/etc/ztps/seed";

/// Seconds Docker gives the appliance to stop before it kills it.
const STOP_TIMEOUT_SECS: i32 = 10;

/// Seconds one Docker API call may take (a load of a large archive
/// included); a hung daemon must not stall the agent for longer.
const API_TIMEOUT_SECS: u64 = 300;

/// What the container is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The container's name (and the appliance's hostname).
    pub name: String,
    /// The image reference, e.g. `ztps-appliance:latest`.
    pub image: String,
    /// A docker-archive tar loaded when Docker lacks the image.
    pub archive: Option<PathBuf>,
    /// The Docker network on the bridge.
    pub network: String,
    /// The Linux bridge that network is made on.
    pub bridge: String,
    /// The container's address and prefix.
    pub address: Ipv4Net,
    /// The bridge's address: the container's gateway.
    pub gateway: Ipv4Addr,
    /// The container interface's MAC.
    pub mac: MacAddr,
    /// The Day-1 seed folder, mounted read-only at [`SEED_MOUNT`].
    pub seed_dir: Option<PathBuf>,
}

/// The appliance container behind Docker's socket.
#[derive(Debug)]
pub struct DockerContainer {
    socket: PathBuf,
    spec: ContainerSpec,
    /// Connected on first use: Docker may start after the agent.
    client: Mutex<Option<Docker>>,
    proc_root: PathBuf,
}

impl DockerContainer {
    pub fn new(socket: impl Into<PathBuf>, spec: ContainerSpec) -> Result<Self, VmError> {
        check_name(&spec.name)?;
        check_name(&spec.network)?;
        check_name(&spec.image)?;
        Ok(DockerContainer {
            socket: socket.into(),
            spec,
            client: Mutex::new(None),
            proc_root: PathBuf::from("/proc"),
        })
    }

    pub fn spec(&self) -> &ContainerSpec {
        &self.spec
    }

    /// The client, connected on first use with the API version the daemon
    /// speaks (EOS and Debian ship Docker releases older than bollard's
    /// default API version).
    async fn docker(&self) -> Result<Docker, VmError> {
        if let Some(client) = self.cached()? {
            return Ok(client);
        }
        let path = self.socket.to_string_lossy();
        let client =
            Docker::connect_with_unix(&path, API_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                .map_err(|e| self.error("connect", e.to_string()))?
                .negotiate_version()
                .await
                .map_err(|e| self.error("connect", e.to_string()))?;
        *self
            .client
            .lock()
            .map_err(|_| self.error("connect", "client lock poisoned".into()))? =
            Some(client.clone());
        Ok(client)
    }

    fn cached(&self) -> Result<Option<Docker>, VmError> {
        Ok(self
            .client
            .lock()
            .map_err(|_| self.error("connect", "client lock poisoned".into()))?
            .clone())
    }

    fn error(&self, action: &str, reason: String) -> VmError {
        VmError::Docker {
            action: format!("{action} ({})", self.socket.display()),
            container: self.spec.name.clone(),
            reason,
        }
    }

    fn api_error<'a>(&'a self, action: &'a str) -> impl Fn(bollard::errors::Error) -> VmError + 'a {
        move |e| self.error(action, e.to_string())
    }

    /// Loads the image from its archive when Docker lacks it.
    async fn ensure_image(&self, docker: &Docker) -> Result<(), VmError> {
        match docker.inspect_image(&self.spec.image).await {
            Ok(_) => return Ok(()),
            Err(e) if !is_not_found(&e) => return Err(self.error("inspect image", e.to_string())),
            Err(_) => {}
        }
        let Some(archive) = &self.spec.archive else {
            return Err(self.error(
                "find image",
                format!(
                    "Docker has no image {} and no archive is configured to load it from",
                    self.spec.image
                ),
            ));
        };
        info!(image = %self.spec.image, archive = %archive.display(), "loading the appliance image");
        let file = tokio::fs::File::open(archive)
            .await
            .map_err(|e| self.error("open image archive", format!("{}: {e}", archive.display())))?;
        let body = tokio_util::io::ReaderStream::new(file);
        let mut progress = docker.import_image_stream(
            bollard::query_parameters::ImportImageOptions::default(),
            body,
            None,
        );
        while let Some(item) = progress.next().await {
            let info = item.map_err(self.api_error("load image"))?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(self.error("load image", detail));
            }
        }
        docker
            .inspect_image(&self.spec.image)
            .await
            .map_err(|e| {
                self.error(
                    "load image",
                    format!(
                        "{} loaded, but it holds no {}: {e}",
                        archive.display(),
                        self.spec.image
                    ),
                )
            })
            .map(|_| ())
    }

    /// Creates the Docker network on the bridge when it is missing.
    async fn ensure_network(&self, docker: &Docker) -> Result<(), VmError> {
        match docker.inspect_network(&self.spec.network, None).await {
            Ok(_) => return Ok(()),
            Err(e) if !is_not_found(&e) => {
                return Err(self.error("inspect network", e.to_string()));
            }
            Err(_) => {}
        }
        info!(network = %self.spec.network, bridge = %self.spec.bridge, "creating the Docker network on the bridge");
        docker
            .create_network(network_request(&self.spec))
            .await
            .map_err(self.api_error("create network"))?;
        Ok(())
    }

    fn endpoint(&self) -> EndpointSettings {
        EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(self.spec.address.addr().to_string()),
                ..Default::default()
            }),
            mac_address: Some(self.spec.mac.to_string()),
            ..Default::default()
        }
    }

    async fn create(&self, docker: &Docker) -> Result<(), VmError> {
        info!(container = %self.spec.name, image = %self.spec.image, "creating the appliance container");
        docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(self.spec.name.clone()),
                    ..Default::default()
                }),
                create_body(&self.spec, self.endpoint()),
            )
            .await
            .map_err(self.api_error("create container"))?;
        Ok(())
    }
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The network: Docker's `bridge` driver over the existing bridge, with the
/// VM subnet and the bridge's address as gateway, and no address of
/// Docker's own put on the bridge (the agent owns the bridge's address).
pub fn network_request(spec: &ContainerSpec) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: spec.network.clone(),
        driver: Some("bridge".into()),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(spec.address.trunc().to_string()),
                gateway: Some(spec.gateway.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        options: Some(HashMap::from([
            (
                "com.docker.network.bridge.name".to_string(),
                spec.bridge.clone(),
            ),
            (
                "com.docker.network.bridge.inhibit_ipv4".to_string(),
                "true".to_string(),
            ),
            // No NAT and no forwarding rules: the bridge is routed by the
            // spine, not masqueraded.
            (
                "com.docker.network.bridge.enable_ip_masquerade".to_string(),
                "false".to_string(),
            ),
        ])),
        ..Default::default()
    }
}

/// The container: the image, on the network at the planned address and
/// MAC, the seed mounted read-only, no restart policy of Docker's own (the
/// agent's policy is the one that counts and backs off).
pub fn create_body(spec: &ContainerSpec, endpoint: EndpointSettings) -> ContainerCreateBody {
    let mounts = spec.seed_dir.as_ref().map(|dir| {
        vec![Mount {
            target: Some(SEED_MOUNT.into()),
            source: Some(dir.to_string_lossy().into_owned()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        }]
    });
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: Some(spec.name.clone()),
        host_config: Some(HostConfig {
            network_mode: Some(spec.network.clone()),
            mounts,
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(spec.network.clone(), endpoint)])),
        }),
        ..Default::default()
    }
}

/// Docker's container status as the supervisor's state.
pub fn state_of(status: Option<ContainerStateStatusEnum>) -> VmState {
    match status {
        Some(ContainerStateStatusEnum::RUNNING) => VmState::Running,
        Some(ContainerStateStatusEnum::PAUSED) => VmState::Paused,
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::CREATED) => {
            VmState::ShutOff
        }
        Some(ContainerStateStatusEnum::DEAD) => VmState::Crashed,
        Some(other) => VmState::Other(other.to_string()),
        None => VmState::Unknown,
    }
}

impl VmControl for DockerContainer {
    /// Makes the container run as planned: the image loaded, the network
    /// made, the container created if missing, connected to the network
    /// if it was taken off, then started (or restarted when running).
    async fn restart(&self, reason: &str) -> Result<(), VmError> {
        let docker = self.docker().await?;
        self.ensure_image(&docker).await?;
        self.ensure_network(&docker).await?;
        let inspect = match docker.inspect_container(&self.spec.name, None).await {
            Ok(i) => Some(i),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(self.error("inspect container", e.to_string())),
        };
        let Some(inspect) = inspect else {
            self.create(&docker).await?;
            docker
                .start_container(&self.spec.name, None)
                .await
                .map_err(self.api_error("start container"))?;
            return Ok(());
        };
        let on_network = inspect
            .network_settings
            .and_then(|n| n.networks)
            .is_some_and(|n| n.contains_key(&self.spec.network));
        if !on_network {
            info!(container = %self.spec.name, network = %self.spec.network, "connecting the container to its network again");
            docker
                .connect_network(
                    &self.spec.network,
                    NetworkConnectRequest {
                        container: self.spec.name.clone(),
                        endpoint_config: Some(self.endpoint()),
                    },
                )
                .await
                .map_err(self.api_error("connect network"))?;
        }
        let state = state_of(inspect.state.and_then(|s| s.status));
        info!(container = %self.spec.name, %state, reason, "restarting the appliance container");
        if state == VmState::Running {
            docker
                .restart_container(
                    &self.spec.name,
                    Some(RestartContainerOptions {
                        t: Some(STOP_TIMEOUT_SECS),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(self.api_error("restart container"))?;
        } else {
            docker
                .start_container(&self.spec.name, None)
                .await
                .map_err(self.api_error("start container"))?;
        }
        Ok(())
    }

    async fn state(&self) -> Result<VmState, VmError> {
        let docker = self.docker().await?;
        match docker.inspect_container(&self.spec.name, None).await {
            Ok(inspect) => Ok(state_of(inspect.state.and_then(|s| s.status))),
            // Missing is as good as stopped: a restart creates it.
            Err(e) if is_not_found(&e) => Ok(VmState::ShutOff),
            Err(e) => Err(self.error("inspect container", e.to_string())),
        }
    }

    /// The container's interface on the bridge: while it runs, its host
    /// veth by index (the peer of the container's interface with the
    /// planned MAC); otherwise none, which the supervisor takes for "not
    /// running".
    async fn interfaces(&self) -> Result<Vec<VmInterface>, VmError> {
        let docker = self.docker().await?;
        let inspect = match docker.inspect_container(&self.spec.name, None).await {
            Ok(i) => i,
            Err(e) if is_not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(self.error("inspect container", e.to_string())),
        };
        let state = inspect.state.unwrap_or_default();
        let pid = match (state.running, state.pid) {
            (Some(true), Some(pid)) if pid > 0 => pid,
            _ => return Ok(Vec::new()),
        };
        // The MAC Docker gave the endpoint: the planned one from API 1.44
        // (Docker 25) on; older daemons derive it from the address.
        let Some(mac) = inspect
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(&self.spec.network))
            .and_then(|ep| ep.mac_address)
            .and_then(|m| m.parse::<MacAddr>().ok())
        else {
            return Ok(Vec::new());
        };
        let root = self.proc_root.clone();
        let peer = tokio::task::spawn_blocking(move || veth_peer_index(&root, pid, mac))
            .await
            .ok()
            .flatten();
        debug!(container = %self.spec.name, pid, ?peer, "container interface");
        Ok(vec![VmInterface {
            tap: None,
            mac,
            host_ifindex: peer,
        }])
    }
}

/// The host-side index of the veth whose container end has `mac`: the
/// container's own sysfs (mounted in its network namespace) names the
/// peer's index in `iflink`.
pub fn veth_peer_index(proc_root: &Path, pid: i64, mac: MacAddr) -> Option<u32> {
    let net = proc_root.join(pid.to_string()).join("root/sys/class/net");
    let want = mac.to_string();
    std::fs::read_dir(net).ok()?.flatten().find_map(|entry| {
        let dir = entry.path();
        let address = std::fs::read_to_string(dir.join("address")).ok()?;
        if !address.trim().eq_ignore_ascii_case(&want) {
            return None;
        }
        std::fs::read_to_string(dir.join("iflink"))
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "ztps".into(),
            image: "ztps-appliance:latest".into(),
            archive: None,
            network: "ztps".into(),
            bridge: "br0".into(),
            address: "172.16.130.10/24".parse().unwrap(),
            gateway: "172.16.130.254".parse().unwrap(),
            mac: "52:54:00:00:00:10".parse().unwrap(),
            seed_dir: Some("/mnt/flash/ztps-seed".into()),
        }
    }

    #[test]
    fn the_network_is_the_existing_bridge_without_an_address_of_dockers() {
        let req = network_request(&spec());
        let options = req.options.unwrap();
        assert_eq!(options["com.docker.network.bridge.name"], "br0");
        assert_eq!(options["com.docker.network.bridge.inhibit_ipv4"], "true");
        let ipam = &req.ipam.unwrap().config.unwrap()[0];
        assert_eq!(ipam.subnet.as_deref(), Some("172.16.130.0/24"));
        assert_eq!(ipam.gateway.as_deref(), Some("172.16.130.254"));
    }

    #[test]
    fn the_container_gets_the_planned_address_mac_and_a_read_only_seed() {
        let c = DockerContainer::new("/nonexistent.sock", spec()).unwrap();
        let body = create_body(c.spec(), c.endpoint());
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("ztps"));
        assert!(
            host.restart_policy.is_none(),
            "the agent restarts, not Docker"
        );
        let mount = &host.mounts.unwrap()[0];
        assert_eq!(mount.target.as_deref(), Some(SEED_MOUNT));
        assert_eq!(mount.read_only, Some(true));
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        let ep = &endpoints["ztps"];
        assert_eq!(
            ep.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
            Some("172.16.130.10")
        );
        assert_eq!(ep.mac_address.as_deref(), Some("52:54:00:00:00:10"));
    }

    #[test]
    fn names_that_could_smuggle_words_are_refused() {
        let mut bad = spec();
        bad.name = "ztps; rm".into();
        assert!(DockerContainer::new("/x", bad).is_err());
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_state() {
        let c = DockerContainer::new("/nonexistent/docker.sock", spec()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(c.state()).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/docker.sock"), "{err}");
    }

    #[test]
    fn docker_states_map() {
        assert_eq!(
            state_of(Some(ContainerStateStatusEnum::RUNNING)),
            VmState::Running
        );
        assert_eq!(
            state_of(Some(ContainerStateStatusEnum::EXITED)),
            VmState::ShutOff
        );
        assert_eq!(
            state_of(Some(ContainerStateStatusEnum::DEAD)),
            VmState::Crashed
        );
        assert!(state_of(Some(ContainerStateStatusEnum::RESTARTING)).is_active());
    }

    #[test]
    fn the_peer_index_comes_from_the_interface_with_the_mac() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("42/root/sys/class/net");
        for (name, mac, iflink) in [
            ("lo", "00:00:00:00:00:00", "1"),
            ("eth0", "52:54:00:00:00:10", "17"),
            ("eth1", "52:54:00:00:00:11", "19"),
        ] {
            std::fs::create_dir_all(net.join(name)).unwrap();
            std::fs::write(net.join(name).join("address"), format!("{mac}\n")).unwrap();
            std::fs::write(net.join(name).join("iflink"), format!("{iflink}\n")).unwrap();
        }
        let mac = "52:54:00:00:00:10".parse().unwrap();
        assert_eq!(veth_peer_index(dir.path(), 42, mac), Some(17));
        assert_eq!(veth_peer_index(dir.path(), 43, mac), None);
    }
}
