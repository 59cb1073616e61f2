use clap::Parser;

fn main() {
    // A copy of fayuan that only opens workbooks for its parent (see ingest::isolate).
    let mut raw = std::env::args();
    if raw.nth(1).as_deref() == Some(fayuan::ingest::isolate::WORKER_ARG) {
        let memory = raw.next().unwrap_or_default();
        std::process::exit(fayuan::ingest::isolate::worker_main(&memory));
    }
    // Output into a closed pipe (`fayuan status | head`) ends the program quietly, as with any
    // command-line tool, instead of a panic.
    // SAFETY: sets this process's own disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
