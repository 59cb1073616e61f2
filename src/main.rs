use clap::Parser;

fn main() {
    // Secrets the service manager gives as credentials (LoadCredential=), while one thread runs.
    let credentials = fayuan::cli::credentials::load(std::env::var_os("CREDENTIALS_DIRECTORY"));
    // A copy of fayuan that only opens workbooks for its parent (see ingest::isolate).
    let mut raw = std::env::args();
    if raw.nth(1).as_deref() == Some(fayuan::ingest::isolate::WORKER_ARG) {
        let memory = raw.next().unwrap_or_default();
        std::process::exit(fayuan::ingest::isolate::worker_main(&memory));
    }
    // Output into a closed pipe (`fayuan status | head`) ends the program quietly, as with any
    // command-line tool, instead of a panic. (SIGPIPE itself stays ignored: a mail or web
    // connection closed by the other side is an error to handle, never the end of the daemon.)
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let args = fayuan::cli::Args::parse();
    fayuan::cli::init_logging();
    if !credentials.is_empty() {
        tracing::info!(names = ?credentials, "secrets read from the service manager's credentials");
    }
    match fayuan::cli::run(args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("fayuan: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
