//! `promrw`: the command-line tool. `demo` pushes a synthetic workload through the full
//! pipeline (to an embedded receiver unless `--url` is given), `sink` is a validating receiver
//! for debugging pipelines, `bench` is the end-to-end benchmark, and `check-config` validates
//! a configuration file and shows the endpoints it configures, `wal-soak` is a durability
//! soak of the durable queue, to be killed at random moments, and `reshard-soak` is a soak of
//! the sender under changing load and receiver outages, and `shard-throughput` measures wall
//! throughput with resharding against fixed shard counts. `push` sends a text exposition from
//! files or stdin once, for batch jobs.

mod bench;
mod check_config;
mod demo;
mod push;
mod reshard_soak;
mod shard_throughput;
mod sink;
mod usage;
mod wal_soak;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command-line arguments.
#[derive(Parser)]
#[command(
    name = "promrw",
    version,
    about = "Embeddable Prometheus Remote Write sender: demo, sink, push, benchmark and config check"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
enum Command {
    /// Push a synthetic workload through the full pipeline and report what arrived.
    Demo(demo::DemoArgs),
    /// Run a receiver that validates every request and prints summaries.
    Sink(sink::SinkArgs),
    /// Push workload W1 end to end and print throughput, CPU per sample, bytes and RSS.
    Bench(bench::BenchArgs),
    /// Send a Prometheus text exposition (0.0.4) or OpenMetrics text from files or stdin,
    /// once; exits 0 only when every sample was acknowledged (1: sending failed, 2: nothing
    /// sent, e.g. the input does not parse: `FILE:LINE:COLUMN: message`).
    Push(push::PushArgs),
    /// Validate a configuration file as a sender would and print its endpoints (secrets
    /// hidden); exits 2 when it is invalid.
    CheckConfig(check_config::CheckConfigArgs),
    /// Append rounds into a WAL-mode sender, syncing after each and printing it: kill it
    /// (-9) at any moment and run it again; every printed round must be delivered.
    WalSoak(wal_soak::WalSoakArgs),
    /// Soak the sender under rates stepping between 10k and 300k samples/s, two receiver
    /// outages and a latency period; prints RSS, lag and shards over time and fails unless
    /// every sample arrived exactly once.
    ReshardSoak(reshard_soak::ReshardSoakArgs),
    /// Measure W1's wall throughput with resharding (auto) against fixed shard counts, each
    /// run against a fresh sink (optionally a slow one); fails unless every sample arrived
    /// exactly once.
    ShardThroughput(shard_throughput::ShardThroughputArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Sink(args) => sink::run(args),
        Command::Bench(args) => bench::run(args),
        Command::CheckConfig(args) => return check_config::run(args),
        Command::Push(args) => return push::run(args),
        Command::WalSoak(args) => wal_soak::run(args),
        Command::ReshardSoak(args) => reshard_soak::run(args),
        Command::ShardThroughput(args) => shard_throughput::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("promrw: {message}");
            ExitCode::FAILURE
        }
    }
}
