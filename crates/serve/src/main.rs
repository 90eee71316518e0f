//! The `omnivox` binary: `omnivox serve` and `omnivox run`.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = omnivox_serve::cli::Cli::parse();
    omnivox_serve::cli::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(omnivox_serve::cli::main(cli))
}
