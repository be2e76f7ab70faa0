//! TEMPORARY naive store used until the real one lands (removed at merge).
#![allow(dead_code, missing_docs)]
use super::*;
use parking_lot::RwLock;
use std::collections::BTreeMap;

pub struct Store {
    series: RwLock<BTreeMap<Labels, Vec<Sample>>>,
    meta: RwLock<BTreeMap<String, MetricMeta>>,
    cfg: StoreConfig,
}
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("x")]
    X,
}
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("series limit")]
    SeriesLimit,
    #[error("out of order")]
    OutOfOrder,
}
impl Store {
    pub fn new(cfg: StoreConfig, _r: &prometheus::Registry) -> Result<Store, StoreError> {
        Ok(Store {
            series: RwLock::default(),
            meta: RwLock::default(),
            cfg,
        })
    }
    pub fn append(&self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        self.series
            .write()
            .entry(labels.clone())
            .or_default()
            .push(Sample { t, v });
        Ok(())
    }
    pub fn set_metadata(&self, metric: &str, meta: MetricMeta) {
        self.meta.write().insert(metric.into(), meta);
    }
    pub fn metadata(&self, metric: &str) -> Option<MetricMeta> {
        self.meta.read().get(metric).cloned()
    }
    pub fn latest(&self, _now: i64) -> Vec<(Labels, Sample)> {
        self.series
            .read()
            .iter()
            .filter_map(|(l, s)| s.last().map(|x| (l.clone(), *x)))
            .collect()
    }
    pub fn gc(&self, _now: i64) {}
}
