//! `promrw`: the command-line tool. `demo` pushes a synthetic workload through the full
//! pipeline (to an embedded receiver unless `--url` is given), `sink` is a validating receiver
//! for debugging pipelines, and `bench` is the end-to-end benchmark.

mod bench;
mod demo;
mod sink;
mod usage;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command-line arguments.
#[derive(Parser)]
#[command(
    name = "promrw",
    version,
    about = "Embeddable Prometheus Remote Write sender: demo, sink and benchmark"
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Sink(args) => sink::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("promrw: {message}");
            ExitCode::FAILURE
        }
    }
}
