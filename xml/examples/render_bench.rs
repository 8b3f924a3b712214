//! Benchmark: load, check and render every artifact of a fabric with 1,000
//! leaf links. Run it in release mode (`ci/bench render` does):
//!
//!     cargo run --release -p ztps-render --example render_bench [LINKS] [RUNS]
//!
//! Prints the median, fastest and slowest of RUNS runs for each step.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ztps_render::{Artifact, render};

fn fabric_text(links: u32) -> String {
    let mut text = String::from(
        "[spines.spine1]\nbgp_asn = 65000\n\
         [spines.spine1.loopback]\naddress = \"172.16.130.253/24\"\n\
         [spines.spine1.bridge]\naddress = \"172.16.130.254/24\"\n\
         [spines.spine1.vm]\naddress = \"172.16.130.10/24\"\nmac = \"08:00:27:85:0c:f8\"\ndisk = \"/mnt/usb1/ztps.vmdk\"\n",
    );
    for i in 0..links {
        // Each link owns a /30-sized block; even links use a /31 of it.
        let network = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + 4 * i);
        let prefix = if i % 2 == 0 { 31 } else { 30 };
        let _ = write!(
            text,
            "[[spines.spine1.leaves]]\ninterface = \"Ethernet{}/{}\"\nleaf = \"leaf{i}\"\nleaf_interface = \"Ethernet49/1\"\nsubnet = \"{network}/{prefix}\"\n",
            i / 50 + 1,
            i % 50 + 1
        );
    }
    text
}

fn measure<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let links: u32 = args.next().map_or(Ok(1000), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(21), |a| a.parse())?;
    let files = vec![("bench.toml".to_string(), fabric_text(links))];

    let fabric = ztps_config::parse_fabric(&files)?;
    let spine = fabric.spine(None)?;
    assert_eq!(spine.leaves.len(), links as usize);

    println!("fabric: 1 spine, {links} leaf links; {runs} runs per step");
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>10}",
        "step", "median", "fastest", "slowest", "bytes"
    );
    let (median, min, max) = measure(runs, || ztps_config::parse_fabric(&files));
    println!(
        "{:<24} {:>10.3?} {:>10.3?} {:>10.3?} {:>10}",
        "load+check fabric",
        median,
        min,
        max,
        files[0].1.len()
    );
    let mut total = median;
    for artifact in Artifact::ALL {
        let bytes = render(artifact, spine)?.len();
        let (median, min, max) = measure(runs, || render(artifact, spine));
        total += median;
        println!(
            "{:<24} {:>10.3?} {:>10.3?} {:>10.3?} {:>10}",
            artifact.name(),
            median,
            min,
            max,
            bytes
        );
    }
    println!("{:<24} {:>10.3?}", "sum of medians", total);
    Ok(())
}
