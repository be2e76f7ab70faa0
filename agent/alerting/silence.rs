//! Silences (Alertmanager's `silence` package): matchers plus a time window that mute
//! alerts. [`Silences`] is the set with Alertmanager's update rules; its serde form is the
//! v2 API's JSON (`/api/v2/silences`), which also serves as the persistence format
//! ([`Silences::to_bytes`]). The API handlers and durable storage are built on top of it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Labels;
use super::matchers::{MatchType, Matcher, Matchers};

/// A silence's state at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Not started yet.
    Pending,
    /// Muting now.
    Active,
    /// Over.
    Expired,
}

/// One silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// Its id (a UUID); empty for a new silence not yet added.
    pub id: String,
    /// Alerts matching all of these are silenced.
    pub matchers: Matchers,
    /// Start, Unix milliseconds.
    pub starts_at_ms: i64,
    /// End, Unix milliseconds.
    pub ends_at_ms: i64,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Last change, Unix milliseconds.
    pub updated_at_ms: i64,
}

impl Silence {
    /// The state at `now_ms`: pending before the start, active before the end, then expired.
    pub fn state(&self, now_ms: i64) -> SilenceState {
        if now_ms < self.starts_at_ms {
            SilenceState::Pending
        } else if now_ms < self.ends_at_ms {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether the silence mutes `labels` at `now_ms`.
    pub fn mutes(&self, labels: &Labels, now_ms: i64) -> bool {
        self.state(now_ms) == SilenceState::Active && self.matchers.matches(labels)
    }
}

impl Silence {
    /// The silence in the v2 API's JSON shape, its `status.state` as at `now_ms`.
    pub fn to_json(&self, now_ms: i64) -> serde_json::Value {
        serde_json::to_value(ApiSilence::from_silence(self, now_ms)).unwrap_or_default()
    }
}

/// Why a silence change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    /// No silence has that id.
    #[error("silence {0} not found")]
    NotFound(String),
    /// Expiring a silence that is over.
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
    /// The silence itself is not valid.
    #[error("invalid silence: {0}")]
    Invalid(String),
    /// The JSON does not decode.
    #[error("invalid silence data: {0}")]
    Decode(String),
    /// The change is in force but could not be stored: it would not survive a restart.
    #[error(
        "the silence change is in force but could not be stored (storage.path); it would be lost at a restart"
    )]
    Unsaved,
}

fn validate(s: &Silence, now_ms: i64, new: bool) -> Result<(), SilenceError> {
    let invalid = |m: &str| Err(SilenceError::Invalid(m.to_string()));
    if s.matchers.is_empty() {
        return invalid("at least one matcher required");
    }
    if s.matchers.0.iter().all(|m| m.matches_value("")) {
        return invalid("at least one matcher must not match the empty string");
    }
    if s.ends_at_ms < s.starts_at_ms {
        return invalid("end time must not be before start time");
    }
    if new && s.ends_at_ms < now_ms {
        return invalid("end time can't be in the past");
    }
    Ok(())
}

/// The set of silences, keyed by id.
pub struct Silences {
    by_id: BTreeMap<String, Silence>,
    new_id: Box<dyn FnMut() -> String + Send>,
}

impl fmt::Debug for Silences {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Silences")
            .field("by_id", &self.by_id)
            .finish()
    }
}

impl Default for Silences {
    fn default() -> Self {
        Silences::new()
    }
}

/// A random (version 4) UUID.
pub fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Silences {
    /// An empty set giving new silences random UUIDs.
    pub fn new() -> Self {
        Silences::with_id_source(Box::new(random_uuid))
    }

    /// An empty set taking new ids from `new_id` (tests use a counter).
    pub fn with_id_source(new_id: Box<dyn FnMut() -> String + Send>) -> Self {
        Silences {
            by_id: BTreeMap::new(),
            new_id,
        }
    }

    /// The silence with `id`.
    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id)
    }

    /// Every silence, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Silence> {
        self.by_id.values()
    }

    /// Number of silences (of every state).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Adds or updates a silence and returns its id (Alertmanager's `Silences.Set`). With an
    /// empty id it is new: it gets a fresh id and a start no earlier than `now_ms`. With an
    /// existing id, it is updated in place when allowed: same matchers, and for an active
    /// silence the same start and an end not in the past, for a pending one a start not in the
    /// past. Otherwise the old silence is expired (unless it already is) and the change is
    /// stored as a new silence with a new id.
    pub fn set(&mut self, mut s: Silence, now_ms: i64) -> Result<String, SilenceError> {
        let prev = if s.id.is_empty() {
            None
        } else {
            Some(
                self.by_id
                    .get(&s.id)
                    .cloned()
                    .ok_or_else(|| SilenceError::NotFound(s.id.clone()))?,
            )
        };
        if let Some(prev) = &prev
            && can_update(prev, &s, now_ms)
        {
            validate(&s, now_ms, false)?;
            s.updated_at_ms = now_ms;
            let id = s.id.clone();
            self.by_id.insert(id.clone(), s);
            return Ok(id);
        }
        if s.starts_at_ms < now_ms {
            s.starts_at_ms = now_ms;
        }
        validate(&s, now_ms, true)?;
        if let Some(prev) = &prev
            && prev.state(now_ms) != SilenceState::Expired
        {
            self.expire(&prev.id, now_ms)?;
        }
        s.id = (self.new_id)();
        s.updated_at_ms = now_ms;
        let id = s.id.clone();
        self.by_id.insert(id.clone(), s);
        Ok(id)
    }

    /// Expires a silence now: an active one ends now, a pending one starts and ends now.
    pub fn expire(&mut self, id: &str, now_ms: i64) -> Result<(), SilenceError> {
        let s = self
            .by_id
            .get_mut(id)
            .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        match s.state(now_ms) {
            SilenceState::Expired => return Err(SilenceError::AlreadyExpired(id.to_string())),
            SilenceState::Active => s.ends_at_ms = now_ms,
            SilenceState::Pending => {
                s.starts_at_ms = now_ms;
                s.ends_at_ms = now_ms;
            }
        }
        s.updated_at_ms = now_ms;
        Ok(())
    }

    /// Ids of the active silences that mute `labels` at `now_ms`, sorted.
    pub fn silenced_by(&self, labels: &Labels, now_ms: i64) -> Vec<String> {
        self.by_id
            .values()
            .filter(|s| s.mutes(labels, now_ms))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Drops silences that expired before `cutoff_ms` (Alertmanager's retention GC).
    pub fn gc(&mut self, cutoff_ms: i64) {
        self.by_id.retain(|_, s| s.ends_at_ms >= cutoff_ms);
    }

    /// The silences as a JSON array of v2 API silences, with states at `now_ms`.
    pub fn to_bytes(&self, now_ms: i64) -> Vec<u8> {
        let list: Vec<ApiSilence> = self
            .by_id
            .values()
            .map(|s| ApiSilence::from_silence(s, now_ms))
            .collect();
        serde_json::to_vec(&list).unwrap_or_default()
    }

    /// The set stored by [`Self::to_bytes`] (ids kept; states recomputed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Silences, SilenceError> {
        let list: Vec<Silence> =
            serde_json::from_slice(bytes).map_err(|e| SilenceError::Decode(e.to_string()))?;
        let mut out = Silences::new();
        for s in list {
            if s.id.is_empty() {
                return Err(SilenceError::Decode("silence without id".into()));
            }
            out.by_id.insert(s.id.clone(), s);
        }
        Ok(out)
    }
}

fn can_update(a: &Silence, b: &Silence, now_ms: i64) -> bool {
    if a.matchers != b.matchers {
        return false;
    }
    match a.state(now_ms) {
        SilenceState::Active => b.starts_at_ms == a.starts_at_ms && b.ends_at_ms >= now_ms,
        SilenceState::Pending => b.starts_at_ms >= now_ms,
        SilenceState::Expired => false,
    }
}

/// A matcher as the v2 API writes it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
struct ApiStatus {
    state: SilenceState,
}

/// A silence as the v2 API writes it (`gettableSilence`).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiSilence {
    #[serde(default)]
    id: String,
    matchers: Vec<ApiMatcher>,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<ApiStatus>,
}

/// RFC 3339 in UTC, as Go's `strfmt.DateTime` (milliseconds).
pub fn format_rfc3339(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => String::new(),
    }
}

/// Parses an RFC 3339 time into Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

impl ApiSilence {
    fn from_silence(s: &Silence, now_ms: i64) -> ApiSilence {
        ApiSilence {
            id: s.id.clone(),
            matchers: s
                .matchers
                .0
                .iter()
                .map(|m| ApiMatcher {
                    name: m.name.clone(),
                    value: m.value.clone(),
                    is_regex: m.op.is_regex(),
                    is_equal: matches!(m.op, MatchType::Equal | MatchType::Regexp),
                })
                .collect(),
            starts_at: format_rfc3339(s.starts_at_ms),
            ends_at: format_rfc3339(s.ends_at_ms),
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
            updated_at: Some(format_rfc3339(s.updated_at_ms)),
            status: Some(ApiStatus {
                state: s.state(now_ms),
            }),
        }
    }

    fn into_silence(self) -> Result<Silence, String> {
        let matchers = self
            .matchers
            .into_iter()
            .map(|m| {
                let op = match (m.is_regex, m.is_equal) {
                    (false, true) => MatchType::Equal,
                    (false, false) => MatchType::NotEqual,
                    (true, true) => MatchType::Regexp,
                    (true, false) => MatchType::NotRegexp,
                };
                Matcher::new(op, &m.name, &m.value).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Silence {
            id: self.id,
            matchers: Matchers(matchers),
            starts_at_ms: parse_rfc3339(&self.starts_at)?,
            ends_at_ms: parse_rfc3339(&self.ends_at)?,
            created_by: self.created_by,
            comment: self.comment,
            updated_at_ms: match &self.updated_at {
                Some(t) => parse_rfc3339(t)?,
                None => 0,
            },
        })
    }
}

impl Serialize for Silence {
    /// The v2 API shape; the `status.state` is the state at the current wall-clock time (the
    /// one place in `alerting` that reads the clock; [`Silence::to_json`] takes the time).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let now = jiff::Timestamp::now().as_millisecond();
        ApiSilence::from_silence(self, now).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Silence {
    /// The v2 API shape (`postableSilence` or `gettableSilence`; `status` is ignored).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ApiSilence::deserialize(d)?
            .into_silence()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::labels;
    use proptest::prelude::*;

    fn counter() -> Silences {
        let mut n = 0;
        Silences::with_id_source(Box::new(move || {
            n += 1;
            format!("id{n}")
        }))
    }

    fn sil(m: &str, start: i64, end: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: Matchers::parse(m).unwrap(),
            starts_at_ms: start,
            ends_at_ms: end,
            created_by: "me".into(),
            comment: "maintenance".into(),
            updated_at_ms: 0,
        }
    }

    #[test]
    fn states_and_silencing() {
        let mut s = counter();
        let id = s.set(sil(r#"job="api""#, 100, 200), 50).unwrap();
        let l = labels(&[("job", "api")]);
        assert_eq!(s.get(&id).unwrap().state(50), SilenceState::Pending);
        assert!(s.silenced_by(&l, 99).is_empty());
        assert_eq!(s.silenced_by(&l, 100), vec![id.clone()]);
        assert!(s.silenced_by(&labels(&[("job", "db")]), 150).is_empty());
        assert!(s.silenced_by(&l, 200).is_empty());
        // A start in the past is moved to now.
        let id2 = s.set(sil(r#"job="api""#, 10, 300), 120).unwrap();
        assert_eq!(s.get(&id2).unwrap().starts_at_ms, 120);
    }

    #[test]
    fn update_rules() {
        let mut s = counter();
        let id = s.set(sil(r#"job="api""#, 100, 200), 100).unwrap();
        // Active: extending the end keeps the id.
        let mut upd = s.get(&id).unwrap().clone();
        upd.ends_at_ms = 400;
        upd.comment = "longer".into();
        assert_eq!(s.set(upd, 150).unwrap(), id);
        assert_eq!(s.get(&id).unwrap().ends_at_ms, 400);
        assert_eq!(s.get(&id).unwrap().updated_at_ms, 150);
        // Active: changing matchers expires the old one and creates a new one.
        let mut upd = s.get(&id).unwrap().clone();
        upd.matchers = Matchers::parse(r#"job="db""#).unwrap();
        let new_id = s.set(upd, 160).unwrap();
        assert_ne!(new_id, id);
        assert_eq!(s.get(&id).unwrap().state(160), SilenceState::Expired);
        assert_eq!(s.get(&id).unwrap().ends_at_ms, 160);
        assert_eq!(s.get(&new_id).unwrap().starts_at_ms, 160);
        // Active: changing the start also replaces.
        let mut upd = s.get(&new_id).unwrap().clone();
        upd.starts_at_ms = 170;
        let third = s.set(upd, 170).unwrap();
        assert_ne!(third, new_id);
        // Pending: changing the start (to the future) keeps the id.
        let p = s.set(sil(r#"x="1""#, 1000, 2000), 500).unwrap();
        let mut upd = s.get(&p).unwrap().clone();
        upd.starts_at_ms = 1500;
        assert_eq!(s.set(upd, 600).unwrap(), p);
        // Expired: any change creates a new one.
        s.expire(&p, 700).unwrap();
        assert_eq!(s.get(&p).unwrap().state(700), SilenceState::Expired);
        assert_eq!(
            s.expire(&p, 800),
            Err(SilenceError::AlreadyExpired(p.clone()))
        );
        let mut upd = s.get(&p).unwrap().clone();
        upd.ends_at_ms = 5000;
        assert_ne!(s.set(upd, 800).unwrap(), p);
        // Unknown id.
        let mut ghost = sil(r#"x="1""#, 1000, 2000);
        ghost.id = "nope".into();
        assert_eq!(s.set(ghost, 0), Err(SilenceError::NotFound("nope".into())));
    }

    #[test]
    fn invalid_silences() {
        let mut s = counter();
        assert!(s.set(sil(r#"x=~".*""#, 100, 200), 100).is_err());
        assert!(s.set(sil(r#"x="1""#, 300, 200), 100).is_err());
        assert!(s.set(sil(r#"x="1""#, 10, 20), 100).is_err());
        assert!(s.is_empty());
    }

    #[test]
    fn v2_json_shape_and_round_trip() {
        let mut s = counter();
        let id = s
            .set(
                sil(
                    r#"job="api",instance=~"a.*",env!="dev""#,
                    1_700_000_000_000,
                    1_700_000_360_000,
                ),
                1_700_000_000_000,
            )
            .unwrap();
        let bytes = s.to_bytes(1_700_000_000_001);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let j = &v[0];
        assert_eq!(j["id"], id.as_str());
        assert_eq!(j["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(j["status"]["state"], "active");
        assert_eq!(j["createdBy"], "me");
        assert_eq!(
            j["matchers"][1],
            serde_json::json!({"name": "instance", "value": "a.*", "isRegex": true, "isEqual": true})
        );
        assert_eq!(j["matchers"][2]["isEqual"], false);
        assert_eq!(s.get(&id).unwrap().to_json(0)["status"]["state"], "pending");
        let back = Silences::from_bytes(&bytes).unwrap();
        assert_eq!(back.get(&id), s.get(&id));
        // A postable silence without id, status or isEqual.
        let posted: Silence = serde_json::from_str(
            r#"{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2024-01-01T00:00:00Z","endsAt":"2024-01-01T01:00:00+01:00","createdBy":"x","comment":"y"}"#,
        )
        .unwrap();
        assert_eq!(posted.matchers.0[0].op, MatchType::Equal);
        assert_eq!(posted.starts_at_ms, posted.ends_at_ms);
        assert!(Silences::from_bytes(b"[{]").is_err());
    }

    proptest! {
        /// Against a direct model: a label set is silenced exactly by the silences whose
        /// window holds `now` and whose single matcher holds.
        #[test]
        fn silenced_by_model(
            sils in proptest::collection::vec(("[ab]", 0i64..100, 1i64..100), 1..6),
            value in "[ab]",
            now in 0i64..200,
        ) {
            let mut s = counter();
            let mut want = Vec::new();
            for (v, start, len) in &sils {
                let id = s.set(sil(&format!("x={v}"), *start, start + len), 0).unwrap();
                if v == &value && now >= *start && now < start + len {
                    want.push(id);
                }
            }
            want.sort();
            prop_assert_eq!(s.silenced_by(&labels(&[("x", &value)]), now), want);
        }
    }
}
