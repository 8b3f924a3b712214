use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    // Installed (or linked) as `FastCli`, or run as `eos-sim fastcli`: the
    // CLI front end, no server and no runtime.
    let argv: Vec<String> = std::env::args().collect();
    let invoked_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if invoked_as == "FastCli" {
        return eos_sim::fastcli::main(&argv[1..]).into();
    }
    if argv.get(1).is_some_and(|a| a == "fastcli") {
        return eos_sim::fastcli::main(&argv[2..]).into();
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = eos_sim::Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("eos-sim: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(eos_sim::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eos-sim: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
