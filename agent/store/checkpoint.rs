//! The store's checkpoint: the whole in-memory store written to one file under
//! `storage.path/store/`, so a restart (graceful or `kill -9`) starts with every window the
//! rules need instead of an empty store.
//!
//! The file is written beside its final name and renamed over it once complete and synced,
//! so a crash mid-write leaves the previous checkpoint intact (and a `*.tmp` that the next
//! start removes). Disk use is one checkpoint (two while the next is written): about the
//! chunk bytes held in memory plus one copy of each distinct label pair.
//!
//! Why the whole store each time rather than sealed chunks appended as they seal: with the
//! default 15-minute retention a series scraped every 15 s holds its open chunk and, for 15
//! of every 20 minutes, one sealed chunk, so an incremental log would skip up to about half
//! the bytes; writing everything keeps one file, nothing to compact, and a load that is a
//! single sequential read, for well under 1 % of a core at 100k series.
//!
//! Format (little-endian; `v` = LEB128 varint):
//!
//! ```text
//! file    = magic "VTLSSTOR" | u32 version | i64 written_at_ms | u32 sections | u32 crc32(header)
//!           | section*
//! section = u8 kind | u32 len | u32 crc32(payload) | payload[len]
//! shard   = v names | (v len, bytes)*names                     label names
//!         | v pairs | (v name_index, v len, bytes)*pairs        label pairs
//!         | v series | series*
//! series  = v n | v pair_index * n | v head_offset | v len | chunk bytes[len]
//!           [ v zigzag(written_at_ms - t) | u64 value ]     newest sample, only when len = 0
//! meta    = v entries | (v len, name, u8 kind, v len, help, v len, unit)*entries
//! ```
//!
//! Each section carries its own checksum: a damaged section loses only the series in it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::chunk::{MAX_VARINT, read_varint, unzigzag, write_varint, zigzag};
use super::db::group_hash_pairs;
use super::series::{RawSeries, Series};
use super::shard::hash_pairs;
use super::{MetricMeta, MetricType, Store};

/// The checkpoint's directory under `storage.path`.
pub const DIR: &str = "store";
/// The checkpoint's file name in [`DIR`].
pub const FILE: &str = "store.ckpt";
const TMP: &str = "store.ckpt.tmp";
const MAGIC: &[u8; 8] = b"VTLSSTOR";
/// Written now: chunks may use the codec's decimal mode, which a reader of version 1 would
/// misread, so such a reader refuses the file instead (a rollback starts empty rather than
/// wrong).
const VERSION: u32 = 2;
/// Versions this build reads: 1's chunks decode as before (see `chunk`).
const READS: std::ops::RangeInclusive<u32> = 1..=VERSION;
const HEADER_LEN: usize = 8 + 4 + 8 + 4 + 4;
const KIND_SHARD: u8 = 1;
const KIND_META: u8 = 2;
/// Most threads a load uses.
const LOAD_THREADS: usize = 4;

/// Why a checkpoint could not be written or read at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot create the checkpoint directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the checkpoint {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the checkpoint {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What one [`Store::write_checkpoint`] wrote.
#[derive(Clone, Debug)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub series: usize,
    pub duration: Duration,
}

/// What [`Store::load_checkpoint`] read back.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub path: PathBuf,
    /// When the checkpoint was written (ms since the epoch); `None` when the header was
    /// unreadable and nothing was loaded.
    pub written_at_ms: Option<i64>,
    pub series: usize,
    pub samples: usize,
    /// Compressed chunk bytes of the loaded series.
    pub chunk_bytes: usize,
    /// Size of the file.
    pub bytes: u64,
    /// Sections that failed their checksum or did not decode (their series are lost), and
    /// the reason of the first.
    pub damaged: usize,
    pub sections: usize,
    pub first_damage: Option<String>,
    /// Series skipped: past `max_series`, or malformed within a section that passed its
    /// checksum.
    pub skipped: usize,
    pub duration: Duration,
}

fn put_varint(out: &mut Vec<u8>, x: u64) {
    let mut buf = [0u8; MAX_VARINT];
    let n = write_varint(x, &mut buf);
    out.extend_from_slice(&buf[..n]);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over checkpoint bytes; every read is bounds-checked (`None` past the end).
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|b| b.try_into().ok())
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    fn varint(&mut self) -> Option<u64> {
        read_varint(self.data, &mut self.pos)
    }

    /// A varint used as a count or length: no larger than the bytes left, so a damaged
    /// length cannot ask for a huge allocation.
    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.data.len() - self.pos).then_some(n)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    fn done(&self) -> bool {
        self.pos == self.data.len()
    }
}

fn kind_code(k: MetricType) -> u8 {
    match k {
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::Summary => 4,
        MetricType::Unknown => 0,
    }
}

fn kind_of(code: u8) -> MetricType {
    match code {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::Summary,
        _ => MetricType::Unknown,
    }
}

/// Creates (truncating) `path` readable by its owner only: the checkpoint holds every label
/// and value vitals received.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn write_section(w: &mut impl Write, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| std::io::Error::other("a checkpoint section passed 4 GiB"))?;
    w.write_all(&[kind])?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&crc32fast::hash(payload).to_le_bytes())?;
    w.write_all(payload)
}

/// A damaged section: the reason, for the one log line.
type Damage = String;

impl Store {
    /// Writes the whole store to `dir/store.ckpt` (creating `dir`), replacing the previous
    /// checkpoint only once the new one is complete and synced to disk. Each shard is copied
    /// under its read lock (appends to that shard wait for the copy, never for the disk).
    pub fn write_checkpoint(&self, dir: &Path) -> Result<Written, CheckpointError> {
        let started = Instant::now();
        std::fs::create_dir_all(dir).map_err(|source| CheckpointError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let (tmp, path) = (dir.join(TMP), dir.join(FILE));
        let io = |source| CheckpointError::Write {
            path: tmp.clone(),
            source,
        };
        let file = create_private(&tmp).map_err(io)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let sections = u32::try_from(self.shards.len() + 1).unwrap_or(u32::MAX);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        let written_at = super::now_ms();
        header.extend_from_slice(&written_at.to_le_bytes());
        header.extend_from_slice(&sections.to_le_bytes());
        let crc = crc32fast::hash(&header);
        header.extend_from_slice(&crc.to_le_bytes());
        w.write_all(&header).map_err(io)?;
        let mut payload = Vec::new();
        let mut local = Vec::new();
        let mut series = 0;
        for shard in self.shards.iter() {
            payload.clear();
            series += self.encode_shard(&shard.read(), written_at, &mut local, &mut payload);
            write_section(&mut w, KIND_SHARD, &payload).map_err(io)?;
        }
        payload.clear();
        self.encode_metadata(&mut payload);
        write_section(&mut w, KIND_META, &payload).map_err(io)?;
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        drop(file);
        std::fs::rename(&tmp, &path).map_err(|source| CheckpointError::Write {
            path: path.clone(),
            source,
        })?;
        // The rename is durable once the directory is synced; failing that is not an error
        // worth losing the checkpoint over (the data is written).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(Written {
            path,
            bytes,
            series,
            duration: started.elapsed(),
        })
    }

    /// One shard's section into `out`; returns its series count. `local` maps a pair id to
    /// its index in the section plus one (0 = not yet used); it is left all zero.
    fn encode_shard(
        &self,
        shard: &super::shard::Shard,
        written_at: i64,
        local: &mut Vec<u32>,
        out: &mut Vec<u8>,
    ) -> usize {
        let interner = self.interner.read();
        local.resize(interner.id_bound().max(local.len()), 0);
        let mut used: Vec<u32> = Vec::new();
        let mut body = Vec::new();
        let mut n = 0;
        for (_, s) in shard.iter() {
            n += 1;
            put_varint(&mut body, s.pairs().count() as u64);
            for id in s.pairs() {
                let Some(slot) = local.get_mut(id as usize) else {
                    continue;
                };
                if *slot == 0 {
                    used.push(id);
                    *slot = used.len() as u32;
                }
                put_varint(&mut body, u64::from(*slot - 1));
            }
            let raw = s.raw();
            put_varint(&mut body, u64::from(raw.head_off));
            put_bytes(&mut body, raw.chunks);
            if raw.chunks.is_empty() {
                put_varint(&mut body, zigzag(written_at.wrapping_sub(raw.last.0)));
                body.extend_from_slice(&raw.last.1.to_le_bytes());
            }
        }
        // Label names once, then pairs as (name index, value).
        let mut names: Vec<&str> = Vec::new();
        let mut name_index: std::collections::HashMap<&str, u32> = Default::default();
        let mut pairs = Vec::with_capacity(used.len() * 8);
        for &id in &used {
            let (name, value) = interner
                .pair(id)
                .map_or(("", ""), |p| (&*p.name, &*p.value));
            let next = names.len() as u32;
            let i = *name_index.entry(name).or_insert_with(|| {
                names.push(name);
                next
            });
            put_varint(&mut pairs, u64::from(i));
            put_bytes(&mut pairs, value.as_bytes());
        }
        put_varint(out, names.len() as u64);
        for name in &names {
            put_bytes(out, name.as_bytes());
        }
        put_varint(out, used.len() as u64);
        out.extend_from_slice(&pairs);
        put_varint(out, n as u64);
        out.extend_from_slice(&body);
        for &id in &used {
            if let Some(slot) = local.get_mut(id as usize) {
                *slot = 0;
            }
        }
        n
    }

    fn encode_metadata(&self, out: &mut Vec<u8>) {
        let meta = self.metadata.read();
        put_varint(out, meta.len() as u64);
        for (name, m) in meta.iter() {
            put_bytes(out, name.as_bytes());
            out.push(kind_code(m.kind));
            put_bytes(out, m.help.as_bytes());
            put_bytes(out, m.unit.as_bytes());
        }
    }

    /// Loads `dir/store.ckpt` into this (empty) store. `Ok(None)` when there is none. A file
    /// whose header is damaged loads nothing; a damaged section loses its own series only;
    /// both are reported in [`Loaded`] (the caller logs them), never as an error. A leftover
    /// `*.tmp` from a write cut short is removed.
    pub fn load_checkpoint(&self, dir: &Path) -> Result<Option<Loaded>, CheckpointError> {
        let started = Instant::now();
        let _ = std::fs::remove_file(dir.join(TMP));
        let path = dir.join(FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Read { path, source }),
        };
        let mut out = Loaded {
            path,
            bytes: data.len() as u64,
            ..Loaded::default()
        };
        let mut r = Reader::new(&data);
        match read_header(&mut r) {
            Ok((written_at, sections)) => {
                out.written_at_ms = Some(written_at);
                out.sections = sections as usize;
                let mut shards = Vec::new();
                for i in 0..sections as usize {
                    let result = match read_section(&mut r) {
                        None => {
                            // A length past the end: the rest cannot be found.
                            out.damaged += out.sections - i;
                            record_damage(
                                &mut out,
                                "the file ends inside a section (truncated)".into(),
                            );
                            break;
                        }
                        Some(None) => Err("a section fails its checksum".to_string()),
                        Some(Some((KIND_SHARD, payload))) => {
                            shards.push(payload);
                            Ok(())
                        }
                        Some(Some((KIND_META, payload))) => self.load_metadata(payload),
                        Some(Some((kind, _))) => Err(format!("unknown section kind {kind}")),
                    };
                    if let Err(e) = result {
                        out.damaged += 1;
                        record_damage(&mut out, e);
                    }
                }
                self.load_shards(&shards, written_at, &mut out);
            }
            Err(e) => {
                out.damaged = 1;
                out.first_damage = Some(e);
            }
        }
        self.count_loaded(out.series, out.chunk_bytes);
        out.duration = started.elapsed();
        Ok(Some(out))
    }

    /// Loads shard sections on up to [`LOAD_THREADS`] threads (sections are independent;
    /// decoding every series' newest chunk is most of the work).
    fn load_shards(&self, sections: &[&[u8]], written_at: i64, out: &mut Loaded) {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, LOAD_THREADS);
        let parts: Vec<Loaded> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        let mut part = Loaded::default();
                        for payload in sections.iter().skip(t).step_by(threads) {
                            if let Err(e) = self.load_shard(payload, written_at, &mut part) {
                                part.damaged += 1;
                                record_damage(&mut part, e);
                            }
                        }
                        part
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| Loaded {
                        damaged: 1,
                        first_damage: Some("a load thread panicked".into()),
                        ..Loaded::default()
                    })
                })
                .collect()
        });
        for p in parts {
            out.series += p.series;
            out.samples += p.samples;
            out.chunk_bytes += p.chunk_bytes;
            out.skipped += p.skipped;
            out.damaged += p.damaged;
            if let Some(e) = p.first_damage {
                record_damage(out, e);
            }
        }
    }

    fn load_shard(&self, payload: &[u8], written_at: i64, out: &mut Loaded) -> Result<(), Damage> {
        let bad = || "a shard section does not decode".to_string();
        let mut r = Reader::new(payload);
        let n_names = r.len().ok_or_else(bad)?;
        let mut names: Vec<Arc<str>> = Vec::with_capacity(n_names.min(4096));
        for _ in 0..n_names {
            names.push(Arc::from(r.str().ok_or_else(bad)?));
        }
        let n_pairs = r.len().ok_or_else(bad)?;
        let mut pairs: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(n_pairs.min(4096));
        for _ in 0..n_pairs {
            let i = usize::try_from(r.varint().ok_or_else(bad)?).map_err(|_| bad())?;
            let name = names.get(i).ok_or_else(bad)?.clone();
            pairs.push((name, Arc::from(r.str().ok_or_else(bad)?)));
        }
        let n_series = r.len().ok_or_else(bad)?;
        let mut ids: Vec<usize> = Vec::new();
        for _ in 0..n_series {
            let n = r.len().ok_or_else(bad)?;
            ids.clear();
            for _ in 0..n {
                ids.push(usize::try_from(r.varint().ok_or_else(bad)?).map_err(|_| bad())?);
            }
            let head_off = u32::try_from(r.varint().ok_or_else(bad)?).map_err(|_| bad())?;
            let chunks = r.bytes().ok_or_else(bad)?;
            let last = if chunks.is_empty() {
                let t = written_at.wrapping_sub(unzigzag(r.varint().ok_or_else(bad)?));
                (t, r.u64().ok_or_else(bad)?)
            } else {
                (0, 0)
            };
            let raw = RawSeries {
                chunks,
                head_off,
                last,
            };
            let labels: Option<Vec<&(Arc<str>, Arc<str>)>> =
                ids.iter().map(|&i| pairs.get(i)).collect();
            let Some(labels) = labels.filter(|l| l.windows(2).all(|w| w[0].0 < w[1].0)) else {
                out.skipped += 1;
                continue;
            };
            let strs = || labels.iter().map(|(n, v)| (&**n, &**v));
            let hash = hash_pairs(strs());
            let shard_index = usize::from(self.shard_index(group_hash_pairs(strs())));
            let Some(shard) = self.shards.get(shard_index) else {
                continue;
            };
            let mut shard = shard.write();
            let Some(global) = self.intern_pairs(labels.iter().map(|(n, v)| (n, v))) else {
                out.skipped += 1;
                continue;
            };
            let inserted = shard.find_pairs(hash, &global).is_none()
                && match Series::from_raw(&global, &raw) {
                    Some(series) if self.reserve_series() => {
                        let (samples, bytes) = (series.sample_count(), series.byte_len());
                        let ok = shard.insert_series(hash, series).is_some();
                        if ok {
                            out.series += 1;
                            out.samples += samples;
                            out.chunk_bytes += bytes;
                        } else {
                            self.release_series_budget();
                        }
                        ok
                    }
                    _ => false,
                };
            if !inserted {
                self.release_pairs(&global);
                out.skipped += 1;
            }
        }
        if !r.done() {
            return Err("a shard section has bytes after its last series".into());
        }
        Ok(())
    }

    fn load_metadata(&self, payload: &[u8]) -> Result<(), Damage> {
        let bad = || "the metadata section does not decode".to_string();
        let mut r = Reader::new(payload);
        let n = r.len().ok_or_else(bad)?;
        let mut meta = self.metadata.write();
        for _ in 0..n {
            let name = r.str().ok_or_else(bad)?;
            let kind = kind_of(r.u8().ok_or_else(bad)?);
            let help = r.str().ok_or_else(bad)?.to_owned();
            let unit = r.str().ok_or_else(bad)?.to_owned();
            meta.entry(name.to_owned())
                .or_insert(MetricMeta { kind, help, unit });
        }
        Ok(())
    }
}

fn record_damage(out: &mut Loaded, e: Damage) {
    if out.first_damage.is_none() {
        out.first_damage = Some(e);
    }
}

fn read_header(r: &mut Reader<'_>) -> Result<(i64, u32), Damage> {
    let short = || "the file is shorter than its header".to_string();
    let head = r.take(HEADER_LEN - 4).ok_or_else(short)?;
    let crc = r.u32().ok_or_else(short)?;
    if head.get(..8) != Some(MAGIC.as_slice()) {
        return Err("it is not a vitals store checkpoint (wrong magic bytes)".into());
    }
    if crc32fast::hash(head) != crc {
        return Err("its header fails its checksum".into());
    }
    let mut h = Reader::new(head);
    h.take(8);
    let version = h.u32().ok_or_else(short)?;
    if !READS.contains(&version) {
        return Err(format!(
            "it is format version {version}; this vitals reads versions {} to {}",
            READS.start(),
            READS.end()
        ));
    }
    let written_at = h.u64().ok_or_else(short)? as i64;
    let sections = h.u32().ok_or_else(short)?;
    Ok((written_at, sections))
}

/// The next section's kind and payload: `None` when the file ends inside it (nothing after
/// can be found), `Some(None)` when it fails its checksum (the next one can still be read).
fn read_section<'a>(r: &mut Reader<'a>) -> Option<Option<(u8, &'a [u8])>> {
    let kind = r.u8()?;
    let len = r.u32()? as usize;
    let crc = r.u32()?;
    let payload = r.take(len)?;
    Some((crc32fast::hash(payload) == crc).then_some((kind, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LabelMatcher, Labels, MatchOp, StoreConfig, stale_marker};
    use proptest::prelude::*;

    fn store(max_series: usize) -> Store {
        Store::new(
            StoreConfig {
                retention: Duration::from_secs(3600),
                stale_after: Duration::from_secs(3600),
                max_series,
            },
            &prometheus::Registry::new(),
        )
        .unwrap()
    }

    fn all(s: &Store) -> Vec<crate::store::SeriesSamples> {
        let any = LabelMatcher::new("__name__", MatchOp::Regex, ".+").unwrap();
        s.select(&[any], i64::MIN, i64::MAX)
    }

    fn samples_equal(a: &[crate::store::SeriesSamples], b: &[crate::store::SeriesSamples]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.labels, y.labels);
            let bits = |s: &crate::store::SeriesSamples| {
                s.samples
                    .iter()
                    .map(|p| (p.t, p.v.to_bits()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(x), bits(y), "{}", x.labels);
        }
    }

    /// A store with sealed and open chunks, a stale marker, irregular values, a histogram's
    /// series in one shard and metadata.
    fn filled() -> Store {
        let s = store(1000);
        let base = crate::store::now_ms() - 5_000_000;
        for i in 0..40 {
            let labels = Labels::new([
                ("__name__", "http_requests_total"),
                ("service", "api"),
                ("instance", &*format!("10.0.0.{i}:80")),
            ]);
            for k in 0..(30 + i * 7) {
                s.append(&labels, base + k * 15_000 + (k % 3), (k * i) as f64 * 1.5)
                    .unwrap();
            }
        }
        let g = Labels::new([("__name__", "temp"), ("room", "é—ü")]);
        for k in 0..100 {
            s.append(&g, base + k * 1000, (k as f64).sin()).unwrap();
        }
        s.append(&g, base + 200_000, stale_marker()).unwrap();
        s.set_metadata(
            "http_requests_total",
            MetricMeta {
                kind: MetricType::Counter,
                help: "Requests.".into(),
                unit: String::new(),
            },
        );
        s
    }

    #[test]
    fn a_checkpoint_loads_back_every_sample_and_appends_continue_alike() {
        let dir = tempfile::tempdir().unwrap();
        let a = filled();
        let w = a.write_checkpoint(dir.path()).unwrap();
        assert_eq!(w.series, 41);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&w.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!dir.path().join(TMP).exists());
        let b = store(1000);
        let l = b.load_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!((l.series, l.damaged, l.skipped), (41, 0, 0));
        assert_eq!(l.samples, a.stats().samples);
        samples_equal(&all(&a), &all(&b));
        assert_eq!(a.stats(), b.stats());
        assert_eq!(b.metadata("http_requests_total").unwrap().help, "Requests.");
        // The encoder state came back too: the same appends give the same bytes.
        let t = crate::store::now_ms();
        for s in [&a, &b] {
            for i in 0..40 {
                let labels = Labels::new([
                    ("__name__", "http_requests_total"),
                    ("instance", &*format!("10.0.0.{i}:80")),
                    ("service", "api"),
                ]);
                for k in 0..90 {
                    s.append(&labels, t + k, k as f64 * 0.25).unwrap();
                }
            }
        }
        samples_equal(&all(&a), &all(&b));
        assert_eq!(a.stats(), b.stats());
    }

    #[test]
    fn a_series_whose_chunks_retention_dropped_keeps_its_newest_sample() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            retention: Duration::from_secs(300),
            stale_after: Duration::from_secs(3600),
            max_series: 10,
        };
        let a = Store::new(cfg.clone(), &prometheus::Registry::new()).unwrap();
        let l = Labels::new([("__name__", "old")]);
        let now = crate::store::now_ms();
        for k in 0..10 {
            a.append(&l, now - 600_000 + k * 1000, 1.0).unwrap();
        }
        a.gc(now);
        assert_eq!((a.stats().series, a.stats().samples), (1, 0));
        a.write_checkpoint(dir.path()).unwrap();
        let b = Store::new(cfg, &prometheus::Registry::new()).unwrap();
        let loaded = b.load_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!((loaded.series, loaded.samples), (1, 0));
        // The newest sample is still known: an older one is out of order, a newer one starts
        // a new chunk.
        let newest = now - 600_000 + 9000;
        for s in [&a, &b] {
            assert_eq!(
                s.append(&l, newest - 1, 2.0),
                Err(crate::store::AppendError::OutOfOrder)
            );
            s.append(&l, newest + 1000, 3.0).unwrap();
        }
        samples_equal(&all(&a), &all(&b));
    }

    #[test]
    fn no_checkpoint_is_none_and_a_leftover_tmp_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TMP), b"half").unwrap();
        assert!(store(10).load_checkpoint(dir.path()).unwrap().is_none());
        assert!(!dir.path().join(TMP).exists());
    }

    #[test]
    fn max_series_caps_what_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        filled().write_checkpoint(dir.path()).unwrap();
        let b = store(5);
        let l = b.load_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!((l.series, l.skipped), (5, 36));
        assert_eq!(b.stats().series, 5);
    }

    #[test]
    fn a_damaged_header_loads_nothing_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        filled().write_checkpoint(dir.path()).unwrap();
        let path = dir.path().join(FILE);
        let mut data = std::fs::read(&path).unwrap();
        data[10] ^= 0x40;
        std::fs::write(&path, &data).unwrap();
        let b = store(1000);
        let l = b.load_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!((l.series, l.damaged, l.written_at_ms), (0, 1, None));
        assert_eq!(
            l.first_damage.as_deref(),
            Some("its header fails its checksum")
        );
    }

    /// A checkpoint written before the chunk codec's decimal mode (vitals at f94d1e0, one
    /// HTTP probe every 1 s for ~95 s, so each series has a sealed chunk and an open head),
    /// with what that build's query API answered for it just before it stopped.
    const V1_CHECKPOINT: &[u8] = include_bytes!("testdata/v1-probe.ckpt");
    const V1_EXPECTED: &str = include_str!("testdata/v1-probe.json");

    #[test]
    fn a_checkpoint_from_before_decimal_mode_loads_exactly() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), V1_CHECKPOINT).unwrap();
        let s = store(1000);
        let l = s.load_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!((l.series, l.damaged), (4, 0), "{l:?}");
        let expected: serde_json::Value = serde_json::from_str(V1_EXPECTED).unwrap();
        let got = all(&s);
        for series in expected["data"]["result"].as_array().unwrap() {
            let name = series["metric"]["__name__"].as_str().unwrap();
            let mine = got
                .iter()
                .find(|x| x.labels.metric_name() == Some(name))
                .unwrap();
            let want: Vec<(i64, u64)> = series["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                    (t, v.to_bits())
                })
                .collect();
            assert!(want.len() > usize::from(super::super::chunk::CHUNK_SAMPLES));
            let have: Vec<(i64, u64)> = mine.samples.iter().map(|x| (x.t, x.v.to_bits())).collect();
            assert_eq!(have, want, "{name}");
        }
        // The old heads were sealed at load: appends go on in the new format, and everything
        // survives another checkpoint.
        for x in &got {
            let last = x.samples.last().unwrap();
            s.append(&x.labels, last.t + 1000, 0.001_234_567).unwrap();
        }
        s.write_checkpoint(dir.path()).unwrap();
        let again = store(1000);
        again.load_checkpoint(dir.path()).unwrap().unwrap();
        samples_equal(&all(&s), &all(&again));
        assert!(
            all(&again)
                .iter()
                .all(|x| x.samples.last().unwrap().v == 0.001_234_567)
        );
    }

    #[test]
    fn a_newer_format_version_is_refused_by_name() {
        let mut data = V1_CHECKPOINT.to_vec();
        data[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
        let crc = crc32fast::hash(&data[..HEADER_LEN - 4]);
        data[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), &data).unwrap();
        let l = store(1000).load_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!((l.series, l.damaged), (0, 1));
        assert_eq!(
            l.first_damage.as_deref(),
            Some("it is format version 3; this vitals reads versions 1 to 2")
        );
    }

    #[test]
    fn a_flipped_byte_loses_one_section_only() {
        let dir = tempfile::tempdir().unwrap();
        let a = filled();
        a.write_checkpoint(dir.path()).unwrap();
        let path = dir.path().join(FILE);
        let mut data = std::fs::read(&path).unwrap();
        let at = data.len() / 2;
        data[at] ^= 0x01;
        std::fs::write(&path, &data).unwrap();
        let b = store(1000);
        let l = b.load_checkpoint(dir.path()).unwrap().unwrap();
        assert_eq!(l.damaged, 1);
        assert_eq!(
            l.first_damage.as_deref(),
            Some("a section fails its checksum")
        );
        assert!(l.series > 0 && l.series < 41, "{l:?}");
        subset(&all(&a), &all(&b));
    }

    /// Every series of `loaded` is in `original`, with the same samples.
    fn subset(original: &[crate::store::SeriesSamples], loaded: &[crate::store::SeriesSamples]) {
        for s in loaded {
            let o = original.iter().find(|o| o.labels == s.labels);
            assert!(o.is_some(), "{} was not in the original", s.labels);
            samples_equal(std::slice::from_ref(o.unwrap()), std::slice::from_ref(s));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Truncation anywhere, or bytes overwritten anywhere: the load never panics and
        /// keeps only series exactly as they were.
        #[test]
        fn damage_anywhere_loads_a_subset_exactly(cut in 0.0f64..1.0, flips in proptest::collection::vec((0.0f64..1.0, 1u8..=255), 0..4), truncate in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let a = filled();
            a.write_checkpoint(dir.path()).unwrap();
            let path = dir.path().join(FILE);
            let mut data = std::fs::read(&path).unwrap();
            if truncate {
                data.truncate((cut * data.len() as f64) as usize);
            }
            let n = data.len();
            for (at, x) in flips {
                if n > 0 {
                    data[((at * n as f64) as usize).min(n - 1)] ^= x;
                }
            }
            std::fs::write(&path, &data).unwrap();
            let b = store(1000);
            let l = b.load_checkpoint(dir.path()).unwrap().unwrap();
            subset(&all(&a), &all(&b));
            prop_assert_eq!(b.stats().series, l.series);
        }

        /// Arbitrary bytes as a checkpoint: no panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), with_header in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let mut data = Vec::new();
            if with_header {
                data.extend_from_slice(MAGIC);
                data.extend_from_slice(&VERSION.to_le_bytes());
                data.extend_from_slice(&0i64.to_le_bytes());
                data.extend_from_slice(&3u32.to_le_bytes());
                let crc = crc32fast::hash(&data);
                data.extend_from_slice(&crc.to_le_bytes());
            }
            data.extend_from_slice(&bytes);
            std::fs::write(dir.path().join(FILE), &data).unwrap();
            let b = store(1000);
            let _ = b.load_checkpoint(dir.path()).unwrap();
        }
    }
}
