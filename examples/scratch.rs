use fayuan::analyze::{self, Inputs};
use fayuan::config::Pipeline;
use fayuan::period::{Period, parse_instant};
use fayuan::store::Store;
use polars::prelude::SerWriter;
fn main() {
    let p = Pipeline::load(std::path::Path::new("pipelines/luan-2025.toml")).unwrap();
    let dir = std::env::args().nth(1).unwrap();
    let store = Store::open(std::path::Path::new(&dir));
    let subs = store.rows().unwrap();
    let files = store.files().unwrap();
    let a = analyze::analyze(&Inputs {
        pipeline: &p,
        period: Period::new(2025, 3).unwrap(),
        as_of: parse_instant("2025-04-09 09:00").unwrap(),
        submissions: &subs,
        files: &files,
        previous: None,
    });
    match a {
        Ok(a) => {
            for (k, v) in &a.frames {
                if k == "arrived" || k == "used" {
                    continue;
                }
                println!("== {k}");
                let mut v = v.clone();
                polars::prelude::CsvWriter::new(std::io::stdout())
                    .finish(&mut v)
                    .unwrap();
            }
        }
        Err(e) => println!("ERR {e}"),
    }
}
