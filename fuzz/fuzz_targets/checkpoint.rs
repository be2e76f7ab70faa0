//! The store checkpoint reader: `Store::load_checkpoint` on the input as
//! `<dir>/store.ckpt`, into a fresh store admitting 500 series, as the daemon loads it at
//! start. What loaded is then read back (every chunk decoded), written with
//! `Store::write_checkpoint` and loaded into a second store, which must hold the same
//! samples (a checkpoint of a loaded store round-trips).
//!
//! Byte 0 is a switch, the rest the file: with bit 0 set the harness recomputes the header's
//! and each section's CRC-32 before writing the file (the reader's format: a 28-byte header
//! ending in its CRC, then `kind u8 | len u32 | crc u32 | payload`), so mutations reach the
//! section decoders instead of stopping at the checksums; with it clear the file is written
//! as is.
#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vitals::store::checkpoint::FILE;
use vitals::store::{LabelMatcher, MatchOp, SeriesSamples, Store};

const HEADER: usize = 28;

fn fix_checksums(buf: &mut [u8]) {
    if buf.len() < HEADER {
        return;
    }
    let crc = crc32fast::hash(&buf[..HEADER - 4]);
    buf[HEADER - 4..HEADER].copy_from_slice(&crc.to_le_bytes());
    let mut pos = HEADER;
    while pos + 9 <= buf.len() {
        let len = u32::from_le_bytes(buf[pos + 1..pos + 5].try_into().unwrap_or_default()) as usize;
        let Some(end) = (pos + 9).checked_add(len).filter(|&e| e <= buf.len()) else {
            break;
        };
        let crc = crc32fast::hash(&buf[pos + 9..end]);
        buf[pos + 5..pos + 9].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

fn dirs() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let base = common::scratch("checkpoint");
        let (a, b) = (base.join("in"), base.join("out"));
        std::fs::create_dir_all(&a).expect("mkdir");
        (a, b)
    })
}

fn all(store: &Store) -> Vec<SeriesSamples> {
    let any = LabelMatcher::new("__name__", MatchOp::Regex, ".*").expect("matcher");
    store.select(&[any], i64::MIN, i64::MAX)
}

fn bits(s: &[SeriesSamples]) -> Vec<(String, Vec<(i64, u64)>)> {
    s.iter()
        .map(|x| {
            (
                x.labels.to_string(),
                x.samples.iter().map(|p| (p.t, p.v.to_bits())).collect(),
            )
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&switch, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if switch & 1 == 1 {
        fix_checksums(&mut file);
    }
    let (input, output) = dirs();
    std::fs::write(input.join(FILE), &file).expect("write checkpoint");
    let store = common::store(500);
    let loaded = store.load_checkpoint(input).expect("load").expect("a file");
    if loaded.series == 0 {
        return;
    }
    let first = all(&store);
    let _ = store.latest(i64::MAX);
    let _ = store.stats();
    store.write_checkpoint(output).expect("write checkpoint");
    let again = common::store(500);
    let reloaded = again
        .load_checkpoint(output)
        .expect("reload")
        .expect("a file");
    assert_eq!(
        reloaded.damaged, 0,
        "a checkpoint vitals wrote is damaged: {reloaded:?}"
    );
    assert_eq!(
        bits(&first),
        bits(&all(&again)),
        "the checkpoint does not round-trip"
    );
});
