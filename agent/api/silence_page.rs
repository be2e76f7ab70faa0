//! `/silences/new`: a small page to silence a group from a notification's link (the Teams
//! card's "Silence" button opens it with `?filter={alertname="X",service="y"}`). The form
//! posts to `/api/v2/silences` from the browser, with the API token typed into it when the
//! server has one; the page itself reads nothing from the server.

use axum::extract::RawQuery;
use axum::response::Html;

use super::query::Params;

/// Escapes text for an HTML attribute or element.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(super) async fn page(RawQuery(q): RawQuery) -> Html<String> {
    let params = Params::parse(q.as_deref(), None).unwrap_or_default();
    let filter = params.get("filter").to_string();
    Html(format!(
        r#"<!doctype html><html><head><meta charset=utf-8>
<meta name=viewport content="width=device-width,initial-scale=1"><title>vitals: new silence</title>
<style>body{{font:15px system-ui,sans-serif;margin:1.5em;max-width:40em}}label{{display:block;margin:.8em 0 .2em}}
input,textarea{{width:100%;font:inherit;padding:.3em}}button{{margin-top:1em;font:inherit;padding:.4em 1.2em}}</style></head>
<body><h1>New silence</h1>
<form id=f>
<label>Matchers (Alertmanager's syntax)</label><input id=m value="{filter}" required>
<label>Duration</label><input id=d value="2h" required>
<label>Created by</label><input id=by required>
<label>Comment</label><textarea id=c required></textarea>
<label>API token (when the server has one)</label><input id=t type=password autocomplete=off>
<button>Silence</button></form><p id=out></p>
<p><a href="/">status page</a> · <a href="/api/v2/silences">all silences</a></p>
<script>
function parseDur(s){{const m=s.match(/^(\d+)(m|h|d)$/);if(!m)return null;return m[1]*{{m:60e3,h:36e5,d:864e5}}[m[2]];}}
function parseMatchers(s){{s=s.trim().replace(/^\{{/,'').replace(/\}}$/,'');const out=[];
 const re=/\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?/y;let m;
 while(re.lastIndex<s.length&&(m=re.exec(s))){{out.push({{name:m[1],value:m[3].replace(/\\(.)/g,'$1'),isRegex:m[2].includes('~'),isEqual:!m[2].startsWith('!')}});}}
 return re.lastIndex>=s.length?out:null;}}
document.getElementById('f').onsubmit=async e=>{{e.preventDefault();const out=document.getElementById('out');
 const ms=parseMatchers(document.getElementById('m').value),d=parseDur(document.getElementById('d').value);
 if(!ms||!ms.length){{out.textContent='Matchers must look like {{alertname="X",service=~"a|b"}}.';return;}}
 if(!d){{out.textContent='Duration must look like 30m, 2h or 1d.';return;}}
 const now=new Date(),body={{matchers:ms,startsAt:now.toISOString(),endsAt:new Date(now.getTime()+d).toISOString(),
  createdBy:document.getElementById('by').value,comment:document.getElementById('c').value}};
 const h={{'content-type':'application/json'}},t=document.getElementById('t').value;if(t)h.authorization='Bearer '+t;
 const r=await fetch('/api/v2/silences',{{method:'POST',headers:h,body:JSON.stringify(body)}});const x=await r.text();
 out.textContent=r.ok?'Silenced: '+JSON.parse(x).silenceID:'Refused ('+r.status+'): '+x;}};
</script></body></html>"#,
        filter = escape(&filter)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_filter_is_escaped_into_the_form() {
        let Html(body) = page(RawQuery(Some(
            "filter=%7Balertname%3D%22A%22%2Cx%3D%22%3Cscript%3E%22%7D".into(),
        )))
        .await;
        assert!(
            body.contains(r#"value="{alertname=&quot;A&quot;,x=&quot;&lt;script&gt;&quot;}""#),
            "{body}"
        );
        assert!(!body.contains("<script>\""));
    }
}
