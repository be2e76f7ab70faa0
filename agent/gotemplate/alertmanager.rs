//! Alertmanager-style notification templates: the data adapter the alerting stage
//! (`alerting`, `notify`) renders subjects, bodies and titles with.
//!
//! It reproduces Alertmanager's `template/template.go`: the data struct ([`NotificationData`],
//! `.Receiver .Status .Alerts .GroupLabels .CommonLabels .CommonAnnotations .ExternalURL`),
//! each alert ([`AlertData`], `.Status .Labels .Annotations .StartsAt .EndsAt .GeneratorURL
//! .Fingerprint`), `.Alerts.Firing` / `.Alerts.Resolved`, the `KV` methods `SortedPairs`
//! (`alertname` first, then by name), `Names`, `Values`, `Remove`, the `Pairs` methods
//! `Names` / `Values`, and its function map: `toUpper`, `toLower`, `title`, `trimSpace`,
//! `join`, `match`, `reReplaceAll`, `safeHtml`, `stringSlice`, `date`, `humanize`,
//! `humanizeDuration`. Not provided: `tz` and `since` (they need a time-zone database and the
//! wall clock), `safeUrl`, `urlUnescape`, `toJson`; using one is a parse error naming it.
//!
//! Templates come as a set ([`Templates`]): several files of `{{ define "name" }}` blocks
//! parsed into one set, then any named template executed with the notification's data. An
//! inline template from a receiver's configuration (`'{{ template "slack.title" . }}'`) is
//! added to the set under a name of the caller's choosing with [`Templates::add`] and
//! executed by that name.
//!
//! It does not import `rules`: the alerting stage builds [`NotificationData`] from its own
//! alerts.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::LazyLock;

use super::{Data, Error, FuncMap, GoTime, Kind, Object, Shared, Template, Value};

/// The data of one notification: Alertmanager's `template.Data`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NotificationData {
    /// The receiver's name as templates see it: Alertmanager puts
    /// `regexp.QuoteMeta(name)` here ([`quote_meta`]).
    pub receiver: String,
    /// `firing` if any alert of the group is firing, else `resolved`.
    pub status: String,
    /// The group's alerts.
    pub alerts: Vec<AlertData>,
    /// The labels the group is grouped by.
    pub group_labels: BTreeMap<String, String>,
    /// The labels every alert of the group has (same name and value).
    pub common_labels: BTreeMap<String, String>,
    /// The annotations every alert of the group has.
    pub common_annotations: BTreeMap<String, String>,
    /// The URL of the sending instance, for links back.
    pub external_url: String,
}

/// One alert of a notification: Alertmanager's `template.Alert`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertData {
    /// `firing` or `resolved`.
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing, in milliseconds since the Unix epoch.
    pub starts_at: i64,
    /// When the alert resolved (or will, without an update), in milliseconds since the Unix
    /// epoch; None renders as Go's zero time (`0001-01-01 00:00:00 +0000 UTC`).
    pub ends_at: Option<i64>,
    /// A link to the rule that generated the alert.
    pub generator_url: String,
    /// The alert's label-set fingerprint, as 16 hexadecimal digits.
    pub fingerprint: String,
}

/// Alertmanager's function map (`template.DefaultFuncs`), as far as it is provided.
pub fn funcs() -> &'static FuncMap {
    static FUNCS: LazyLock<FuncMap> = LazyLock::new(|| {
        FuncMap::new().with_shared(&[
            Shared::ToUpper,
            Shared::ToLower,
            Shared::Title,
            Shared::TrimSpace,
            Shared::Join,
            Shared::Match,
            Shared::ReReplaceAll,
            Shared::SafeHtml,
            Shared::StringSlice,
            Shared::Date,
            Shared::Humanize,
            Shared::HumanizeDuration,
        ])
    });
    &FUNCS
}

/// Go's `regexp.QuoteMeta`: a backslash before each of `\.+*?()|[]{}^$`.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A set of notification templates.
#[derive(Debug)]
pub struct Templates {
    set: Template,
}

impl Templates {
    /// Parses `files` (name, text) into one set, in order: a later `{{define}}` of a name
    /// replaces an earlier one, as Alertmanager's `template.FromGlobs` does.
    pub fn parse_files<'f>(
        files: impl IntoIterator<Item = (&'f str, &'f str)>,
    ) -> Result<Templates, Error> {
        let mut set = Template::parse("", "", funcs())?;
        for (name, text) in files {
            set.add(name, text, funcs())?;
        }
        Ok(Templates { set })
    }

    /// Parses one more file (or an inline template, under a name of the caller's choosing)
    /// into the set; its top-level text becomes the template `name`.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), Error> {
        self.set.add(name, text, funcs())
    }

    /// Whether the set has a template called `name`.
    pub fn defines(&self, name: &str) -> bool {
        self.set.defines(name)
    }

    /// Renders the template `name` with dot set to `data`, as Alertmanager's
    /// `ExecuteTextString` does for `{{ template "name" . }}`.
    pub fn execute(&self, name: &str, data: &NotificationData) -> Result<String, Error> {
        let d = AmData { data };
        self.set.execute(name, &d, d.root())
    }
}

/// One render's data.
struct AmData<'a> {
    data: &'a NotificationData,
}

impl<'a> Data<'a> for AmData<'a> {
    fn root(&self) -> Value<'a> {
        Value::object(Root(self.data))
    }
}

fn kv(m: &BTreeMap<String, String>) -> Value<'_> {
    Value::object(Kv(KvMap::Borrowed(m)))
}

fn time<'a>(ms: Option<i64>) -> Value<'a> {
    // Go's zero time.Time: 0001-01-01T00:00:00Z.
    const ZERO_MS: i64 = -62_135_596_800_000;
    Value::Time(GoTime::from_unix_millis(ms.unwrap_or(ZERO_MS)))
}

/// `template.Data`.
struct Root<'a>(&'a NotificationData);

impl<'a> Object<'a> for Root<'a> {
    fn type_name(&self) -> &str {
        "template.Data"
    }

    fn kind(&self) -> Kind {
        Kind::Struct
    }

    fn field(&self, name: &str, _args: &[Value<'a>]) -> Result<Option<Value<'a>>, String> {
        let d = self.0;
        Ok(Some(match name {
            "Receiver" => Value::Str(Cow::Borrowed(&d.receiver)),
            "Status" => Value::Str(Cow::Borrowed(&d.status)),
            "Alerts" => Value::object(Alerts {
                alerts: Rc::new(d.alerts.iter().collect()),
                named: true,
            }),
            "GroupLabels" => kv(&d.group_labels),
            "CommonLabels" => kv(&d.common_labels),
            "CommonAnnotations" => kv(&d.common_annotations),
            "ExternalURL" => Value::Str(Cow::Borrowed(&d.external_url)),
            _ => return Ok(None),
        }))
    }

    fn fields(&self) -> Vec<(&'static str, Value<'a>)> {
        [
            "Receiver",
            "Status",
            "Alerts",
            "GroupLabels",
            "CommonLabels",
            "CommonAnnotations",
            "ExternalURL",
        ]
        .into_iter()
        .map(|n| (n, self.field(n, &[]).ok().flatten().unwrap_or(Value::Nil)))
        .collect()
    }
}

/// `template.Alerts` (with `Firing` / `Resolved`), or the `[]template.Alert` they return.
struct Alerts<'a> {
    alerts: Rc<Vec<&'a AlertData>>,
    named: bool,
}

impl<'a> Alerts<'a> {
    fn with_status(&self, status: &str) -> Value<'a> {
        Value::object(Alerts {
            alerts: Rc::new(
                self.alerts
                    .iter()
                    .copied()
                    .filter(|a| a.status == status)
                    .collect(),
            ),
            named: false,
        })
    }
}

impl<'a> Object<'a> for Alerts<'a> {
    fn type_name(&self) -> &str {
        if self.named {
            "template.Alerts"
        } else {
            "[]template.Alert"
        }
    }

    fn kind(&self) -> Kind {
        Kind::List
    }

    fn field(&self, name: &str, _args: &[Value<'a>]) -> Result<Option<Value<'a>>, String> {
        if !self.named {
            return Ok(None);
        }
        Ok(match name {
            "Firing" => Some(self.with_status("firing")),
            "Resolved" => Some(self.with_status("resolved")),
            _ => None,
        })
    }

    fn has_method(&self, name: &str) -> bool {
        self.named && matches!(name, "Firing" | "Resolved")
    }

    fn len(&self) -> usize {
        self.alerts.len()
    }

    fn item(&self, i: usize) -> (Value<'a>, Value<'a>) {
        let elem = self
            .alerts
            .get(i)
            .map_or(Value::Nil, |a| Value::object(Alert(a)));
        (Value::Int(i as i64), elem)
    }

    fn slice(&self, lo: usize, hi: usize) -> Value<'a> {
        Value::object(Alerts {
            alerts: Rc::new(self.alerts[lo..hi].to_vec()),
            named: self.named,
        })
    }
}

/// `template.Alert`.
struct Alert<'a>(&'a AlertData);

impl<'a> Object<'a> for Alert<'a> {
    fn type_name(&self) -> &str {
        "template.Alert"
    }

    fn kind(&self) -> Kind {
        Kind::Struct
    }

    fn field(&self, name: &str, _args: &[Value<'a>]) -> Result<Option<Value<'a>>, String> {
        let a = self.0;
        Ok(Some(match name {
            "Status" => Value::Str(Cow::Borrowed(&a.status)),
            "Labels" => kv(&a.labels),
            "Annotations" => kv(&a.annotations),
            "StartsAt" => time(Some(a.starts_at)),
            "EndsAt" => time(a.ends_at),
            "GeneratorURL" => Value::Str(Cow::Borrowed(&a.generator_url)),
            "Fingerprint" => Value::Str(Cow::Borrowed(&a.fingerprint)),
            _ => return Ok(None),
        }))
    }

    fn fields(&self) -> Vec<(&'static str, Value<'a>)> {
        [
            "Status",
            "Labels",
            "Annotations",
            "StartsAt",
            "EndsAt",
            "GeneratorURL",
            "Fingerprint",
        ]
        .into_iter()
        .map(|n| (n, self.field(n, &[]).ok().flatten().unwrap_or(Value::Nil)))
        .collect()
    }
}

/// The map behind a `KV`: the notification's own, or one `Remove` built.
enum KvMap<'a> {
    Borrowed(&'a BTreeMap<String, String>),
    Owned(Rc<BTreeMap<String, String>>),
}

/// `template.KV`: `map[string]string` with methods.
struct Kv<'a>(KvMap<'a>);

impl<'a> Kv<'a> {
    fn map(&self) -> &BTreeMap<String, String> {
        match &self.0 {
            KvMap::Borrowed(m) => m,
            KvMap::Owned(m) => m,
        }
    }

    fn string(&self, s: &'a str) -> Value<'a> {
        Value::Str(Cow::Borrowed(s))
    }

    /// `SortedPairs`: `alertname` first, then the other names in order.
    fn sorted_pairs(&self) -> Vec<(String, String)> {
        let m = self.map();
        let first = m.get_key_value("alertname");
        first
            .into_iter()
            .chain(m.iter().filter(|(k, _)| k.as_str() != "alertname"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl<'a> Object<'a> for Kv<'a> {
    fn type_name(&self) -> &str {
        "template.KV"
    }

    fn kind(&self) -> Kind {
        Kind::Map
    }

    fn field(&self, name: &str, args: &[Value<'a>]) -> Result<Option<Value<'a>>, String> {
        Ok(Some(match name {
            "SortedPairs" => Value::object(Pairs(Rc::new(self.sorted_pairs()))),
            "Names" => strings(self.sorted_pairs().into_iter().map(|(k, _)| k)),
            "Values" => strings(self.sorted_pairs().into_iter().map(|(_, v)| v)),
            "Remove" => {
                let [keys] = args else {
                    return Err(format!(
                        "wrong number of args for Remove: want 1 got {}",
                        args.len()
                    ));
                };
                let keys = keys.as_strings().ok_or_else(|| {
                    format!(
                        "wrong type for value; expected []string; got {}",
                        keys.type_name()
                    )
                })?;
                let mut m = self.map().clone();
                for k in keys {
                    m.remove(&k);
                }
                Value::object(Kv(KvMap::Owned(Rc::new(m))))
            }
            key => self.get(key),
        }))
    }

    fn has_method(&self, name: &str) -> bool {
        matches!(name, "SortedPairs" | "Names" | "Values" | "Remove")
    }

    fn len(&self) -> usize {
        self.map().len()
    }

    fn item(&self, i: usize) -> (Value<'a>, Value<'a>) {
        match &self.0 {
            &KvMap::Borrowed(m) => match m.iter().nth(i) {
                Some((k, v)) => (self.string(k), self.string(v)),
                None => (Value::Nil, Value::Nil),
            },
            KvMap::Owned(m) => match m.iter().nth(i) {
                Some((k, v)) => (Value::str(k.clone()), Value::str(v.clone())),
                None => (Value::Nil, Value::Nil),
            },
        }
    }

    fn get(&self, key: &str) -> Value<'a> {
        // A missing key is the zero value of `string`.
        match &self.0 {
            &KvMap::Borrowed(m) => self.string(m.get(key).map_or("", String::as_str)),
            KvMap::Owned(m) => Value::str(m.get(key).cloned().unwrap_or_default()),
        }
    }
}

fn strings<'a>(items: impl Iterator<Item = String>) -> Value<'a> {
    Value::List(Rc::new(items.map(Value::str).collect()))
}

/// `template.Pairs`: a list of `Pair` with `Names` / `Values`.
struct Pairs(Rc<Vec<(String, String)>>);

impl<'a> Object<'a> for Pairs {
    fn type_name(&self) -> &str {
        "template.Pairs"
    }

    fn kind(&self) -> Kind {
        Kind::List
    }

    fn field(&self, name: &str, _args: &[Value<'a>]) -> Result<Option<Value<'a>>, String> {
        Ok(match name {
            "Names" => Some(strings(self.0.iter().map(|(k, _)| k.clone()))),
            "Values" => Some(strings(self.0.iter().map(|(_, v)| v.clone()))),
            _ => None,
        })
    }

    fn has_method(&self, name: &str) -> bool {
        matches!(name, "Names" | "Values")
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn item(&self, i: usize) -> (Value<'a>, Value<'a>) {
        let elem = self.0.get(i).map_or(Value::Nil, |(k, v)| {
            Value::object(Pair(k.clone(), v.clone()))
        });
        (Value::Int(i as i64), elem)
    }

    fn slice(&self, lo: usize, hi: usize) -> Value<'a> {
        Value::object(Pairs(Rc::new(self.0[lo..hi].to_vec())))
    }
}

/// `template.Pair`: `.Name` and `.Value`.
struct Pair(String, String);

impl<'a> Object<'a> for Pair {
    fn type_name(&self) -> &str {
        "template.Pair"
    }

    fn kind(&self) -> Kind {
        Kind::Struct
    }

    fn field(&self, name: &str, _args: &[Value<'a>]) -> Result<Option<Value<'a>>, String> {
        Ok(match name {
            "Name" => Some(Value::str(self.0.clone())),
            "Value" => Some(Value::str(self.1.clone())),
            _ => None,
        })
    }

    fn fields(&self) -> Vec<(&'static str, Value<'a>)> {
        vec![
            ("Name", Value::str(self.0.clone())),
            ("Value", Value::str(self.1.clone())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn alert(status: &str, service: &str, summary: &str) -> AlertData {
        AlertData {
            status: status.into(),
            labels: labels(&[
                ("alertname", "HighErrorRate"),
                ("service", service),
                ("severity", "page"),
            ]),
            annotations: labels(&[("summary", summary)]),
            starts_at: 1_136_239_445_000,
            ends_at: None,
            generator_url: format!(
                "http://prom:9090/graph?g0.expr=up%7Bservice%3D%22{service}%22%7D"
            ),
            fingerprint: "0123456789abcdef".into(),
        }
    }

    fn data() -> NotificationData {
        NotificationData {
            receiver: "team-pager".into(),
            status: "firing".into(),
            alerts: vec![
                alert("firing", "checkout", "5% errors on checkout"),
                alert("resolved", "checkout", "errors are back to normal"),
                alert("firing", "checkout", "7% errors on checkout"),
            ],
            group_labels: labels(&[("service", "checkout"), ("alertname", "HighErrorRate")]),
            common_labels: labels(&[
                ("alertname", "HighErrorRate"),
                ("service", "checkout"),
                ("severity", "page"),
            ]),
            common_annotations: BTreeMap::new(),
            external_url: "http://alertmanager:9093".into(),
        }
    }

    fn render(text: &str) -> String {
        let t = Templates::parse_files([("t.tmpl", text)]).unwrap();
        t.execute("t.tmpl", &data()).unwrap()
    }

    const SUBJECT: &str = r#"{{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }}{{ end }}"#;

    #[test]
    fn default_subject() {
        let t = Templates::parse_files([("default.tmpl", SUBJECT)]).unwrap();
        assert!(t.defines("__subject"));
        assert_eq!(
            t.execute("__subject", &data()).unwrap(),
            "[FIRING:2] HighErrorRate checkout"
        );
    }

    #[test]
    fn range_over_firing_alerts_with_annotations() {
        let text = "{{ range .Alerts.Firing }}- {{ .Labels.service }}: {{ .Annotations.summary }} ({{ .Status }})\n{{ end }}{{ range .Alerts.Resolved }}resolved: {{ .Annotations.summary }}{{ end }}";
        assert_eq!(
            render(text),
            "- checkout: 5% errors on checkout (firing)\n- checkout: 7% errors on checkout (firing)\nresolved: errors are back to normal"
        );
    }

    #[test]
    fn define_in_one_file_used_from_another() {
        let defs = r#"{{ define "slack.title" }}{{ template "__subject" . }} for {{ .Receiver }}{{ end }}"#;
        let mut t =
            Templates::parse_files([("default.tmpl", SUBJECT), ("slack.tmpl", defs)]).unwrap();
        t.add("receiver/title", r#"{{ template "slack.title" . }}"#)
            .unwrap();
        assert_eq!(
            t.execute("receiver/title", &data()).unwrap(),
            "[FIRING:2] HighErrorRate checkout for team-pager"
        );
        // A later definition replaces an earlier one.
        t.add(
            "override.tmpl",
            r#"{{ define "slack.title" }}custom{{ end }}"#,
        )
        .unwrap();
        assert_eq!(t.execute("receiver/title", &data()).unwrap(), "custom");
    }

    #[test]
    fn kv_methods() {
        assert_eq!(
            render("{{ .CommonLabels.SortedPairs.Names | join \",\" }}"),
            "alertname,service,severity"
        );
        assert_eq!(
            render("{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}"),
            "alertname=HighErrorRate;service=checkout;severity=page;"
        );
        assert_eq!(
            render("{{ (.CommonLabels.Remove .GroupLabels.Names).Values | join \" \" }}"),
            "page"
        );
        assert_eq!(
            render("{{ .CommonLabels.Remove (stringSlice \"alertname\" \"service\") }}"),
            "map[severity:page]"
        );
        assert_eq!(
            render("{{ .CommonLabels.Names }}"),
            "[alertname service severity]"
        );
        assert_eq!(
            render("{{ .CommonLabels.nothere }}|{{ len .GroupLabels }}"),
            "|2"
        );
        assert_eq!(
            render("{{ range $k, $v := .GroupLabels }}{{ $k }}:{{ $v }} {{ end }}"),
            "alertname:HighErrorRate service:checkout "
        );
        assert_eq!(render("{{ index .GroupLabels \"service\" }}"), "checkout");
    }

    #[test]
    fn functions() {
        assert_eq!(render("{{ \"  x  \" | trimSpace | title }}"), "X");
        assert_eq!(render("{{ .Receiver | toUpper | toLower }}"), "team-pager");
        assert_eq!(
            render("{{ if match \"^team-\" .Receiver }}yes{{ end }}"),
            "yes"
        );
        assert_eq!(
            render("{{ reReplaceAll \"^team-(.*)$\" \"$1\" .Receiver }}"),
            "pager"
        );
        assert_eq!(render("{{ safeHtml \"<b>\" }}"), "<b>");
        assert_eq!(render("{{ 1234567 | humanize }}"), "1.235M");
        assert_eq!(render("{{ 3725 | humanizeDuration }}"), "1h 2m 5s");
        let first = "{{ with index .Alerts 0 }}";
        assert_eq!(
            render(&format!("{first}{{{{ .StartsAt }}}}{{{{ end }}}}")),
            "2006-01-02 22:04:05 +0000 UTC"
        );
        assert_eq!(
            render(&format!(
                "{first}{{{{ date \"2006-01-02T15:04\" .StartsAt }}}} {{{{ .EndsAt.Year }}}}{{{{ end }}}}"
            )),
            "2006-01-02T22:04 1"
        );
        assert_eq!(
            render(&format!("{first}{{{{ .Fingerprint }}}}{{{{ end }}}}")),
            "0123456789abcdef"
        );
    }

    #[test]
    fn alerts_print_and_type_like_go() {
        assert_eq!(
            render("{{ printf \"%T %T\" .Alerts .Alerts.Firing }}"),
            "template.Alerts []template.Alert"
        );
        assert_eq!(
            render("{{ len .Alerts }} {{ len (slice .Alerts 1) }}"),
            "3 2"
        );
        assert_eq!(render("{{ .ExternalURL }}"), "http://alertmanager:9093");
    }

    #[test]
    fn receiver_is_quoted_as_alertmanager_does() {
        assert_eq!(quote_meta("team-pager"), "team-pager");
        assert_eq!(
            quote_meta("a.b(c)*[x]{1}^$|+?\\"),
            "a\\.b\\(c\\)\\*\\[x\\]\\{1\\}\\^\\$\\|\\+\\?\\\\"
        );
    }

    #[test]
    fn errors_are_gos() {
        // Prometheus-only functions are not in Alertmanager's map.
        let e = Templates::parse_files([("a.tmpl", "{{ query \"up\" }}")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template: a.tmpl:1:4: function \"query\" not defined"
        );
        let t = Templates::parse_files([("a.tmpl", "x\n{{ .Nope }}")]).unwrap();
        assert_eq!(
            t.execute("a.tmpl", &data()).unwrap_err().to_string(),
            "template: a.tmpl:2:3: executing \"a.tmpl\" at <.Nope>: can't evaluate field Nope in type template.Data"
        );
        assert!(matches!(
            t.execute("missing", &data()),
            Err(Error::NotDefined { .. })
        ));
    }
}
