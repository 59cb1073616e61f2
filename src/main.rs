use clap::Parser;

fn main() {
    let args = fayuan::cli::Args::parse();
    fayuan::cli::init_logging();
    match fayuan::cli::run(args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("fayuan: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
