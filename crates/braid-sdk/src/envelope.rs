//! Helpers for vendors that report errors inside a 2xx JSON body
//! (classified through [`HttpConfig::envelope`](crate::HttpConfig)).
//!
//! A page body is parsed once, by the arrow-json decode of its rows. The
//! envelope check the HTTP client runs on every 2xx body ([`check`]) reads
//! only the bytes outside the body's composite values — the top-level
//! members before the first `{…}`/`[…]` value and after the last — so it
//! costs the envelope's few dozen bytes, not the page's. What those bytes
//! cannot show is caught by the page's own decode, which reads the code in
//! the same pass as the rows ([`CodeMessage::from_values`]) and tells
//! [`fetch_decoded`] to fetch a cut-short page again.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use backon::BackoffBuilder;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::json_page::{JsonPage, JsonPageDecoder, JsonPageError};
use crate::{EnvelopeError, Error, HttpClient, HttpResponse};

/// Decodes the envelope fields `T` of a 2xx body. A body cut short or not
/// JSON is [`EnvelopeError::Transient`], so the page is fetched again.
pub fn decode<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, EnvelopeError> {
    serde_json::from_slice(body).map_err(|err| {
        EnvelopeError::Transient(if err.is_eof() {
            "the response body ends mid-document (cut short)".into()
        } else {
            format!("the response is not a JSON envelope: {err}")
        })
    })
}

/// What the bytes outside a body's composite values say about one
/// top-level key (see [`peek`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peeked {
    /// Not among the top-level members before the first composite value
    /// and after the last one (it may still sit between two composites).
    Unseen,
    /// Present as `0` or `null`.
    Zero,
    /// Present with another value, or more than once.
    Other,
}

const CUT: &str = "the response body ends mid-document (cut short)";

fn not_json(what: &str) -> EnvelopeError {
    EnvelopeError::Transient(format!("the response is not a JSON envelope: {what}"))
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The bytes of a scalar literal (number, `true`, `false`, `null`).
fn is_literal(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
}

/// Whether the `"` at `at` is escaped (an odd run of backslashes before it).
fn escaped(body: &[u8], at: usize) -> bool {
    body[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1
}

/// Whether a JSON string's raw content (between its quotes) is `key`.
fn key_is(raw: &[u8], key: &str) -> bool {
    if !raw.contains(&b'\\') {
        return raw == key.as_bytes();
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted).is_ok_and(|k| k == key)
}

struct Seen {
    found: Option<bool>,
    twice: bool,
}

impl Seen {
    fn note(&mut self, raw: &[u8]) {
        let zero = raw == b"0" || raw == b"null";
        if self.found.is_some() {
            self.twice = true;
        }
        self.found = Some(self.found.unwrap_or(true) && zero);
    }
}

/// Reads the top-level scalar `key` of a JSON object body from the bytes
/// outside its composite values only: the members before the first
/// `{…}`/`[…]` value (read forward) and after the last one (read backward
/// from the closing brace). A page's rows are never scanned here. Errs
/// ([`EnvelopeError::Transient`]) when the body is not a JSON object or
/// those bytes are not valid JSON (a body cut short ends mid-value).
pub fn peek(body: &[u8], key: &str) -> Result<Peeked, EnvelopeError> {
    let mut seen = Seen {
        found: None,
        twice: false,
    };
    let n = body.len();
    let skip = |mut i: usize| {
        while i < n && is_ws(body[i]) {
            i += 1;
        }
        i
    };
    let mut i = skip(0);
    if i == n {
        return Err(not_json("empty body"));
    }
    if body[i] != b'{' {
        return Err(not_json("not an object"));
    }
    let first_composite;
    i = skip(i + 1);
    if body.get(i) == Some(&b'}') {
        return match body[i + 1..].iter().all(|b| is_ws(*b)) {
            true => Ok(Peeked::Unseen),
            false => Err(not_json("trailing characters")),
        };
    }
    // Forward: members up to the first composite value.
    loop {
        if body.get(i) != Some(&b'"') {
            return Err(if i >= n {
                EnvelopeError::Transient(CUT.into())
            } else {
                not_json("a member without a quoted key")
            });
        }
        let k0 = i + 1;
        let mut j = k0;
        loop {
            match memchr_quote(&body[j..]) {
                Some(q) if escaped(body, j + q) => j += q + 1,
                Some(q) => {
                    j += q;
                    break;
                }
                None => return Err(EnvelopeError::Transient(CUT.into())),
            }
        }
        let is_key = key_is(&body[k0..j], key);
        i = skip(j + 1);
        if body.get(i) != Some(&b':') {
            return Err(if i >= n {
                EnvelopeError::Transient(CUT.into())
            } else {
                not_json("a key without `:`")
            });
        }
        i = skip(i + 1);
        let v0 = i;
        match body.get(i) {
            None => return Err(EnvelopeError::Transient(CUT.into())),
            Some(b'{' | b'[') => {
                first_composite = i;
                break;
            }
            Some(b'"') => {
                let mut j = i + 1;
                loop {
                    match memchr_quote(&body[j..]) {
                        Some(q) if escaped(body, j + q) => j += q + 1,
                        Some(q) => {
                            j += q;
                            break;
                        }
                        None => return Err(EnvelopeError::Transient(CUT.into())),
                    }
                }
                i = j + 1;
            }
            Some(_) => {
                while i < n && is_literal(body[i]) {
                    i += 1;
                }
                if i == v0 {
                    return Err(not_json("a member without a value"));
                }
            }
        }
        if is_key {
            seen.note(&body[v0..i]);
        }
        i = skip(i);
        match body.get(i) {
            Some(b',') => i = skip(i + 1),
            Some(b'}') => {
                // No composite value: the whole object has been read.
                if !body[i + 1..].iter().all(|b| is_ws(*b)) {
                    return Err(not_json("trailing characters"));
                }
                return Ok(seen.verdict());
            }
            None => return Err(EnvelopeError::Transient(CUT.into())),
            Some(_) => return Err(not_json("members not separated by `,`")),
        }
    }
    if seen.found == Some(true) && !seen.twice {
        // `key` is 0 before any composite: nothing after can make it an error
        // (a second `key` would be a malformed envelope the rows' decode rejects).
        return Ok(Peeked::Zero);
    }
    // Backward: members after the last composite value.
    let mut j = n;
    while j > 0 && is_ws(body[j - 1]) {
        j -= 1;
    }
    if j == 0 || body[j - 1] != b'}' || j - 1 <= first_composite {
        return Err(EnvelopeError::Transient(CUT.into()));
    }
    j -= 1;
    let back = |mut j: usize| {
        while j > first_composite && is_ws(body[j - 1]) {
            j -= 1;
        }
        j
    };
    // The start of the string whose closing quote is at `end`.
    let string_start = |end: usize| -> Option<usize> {
        let mut k = end;
        loop {
            let q = body[first_composite + 1..k]
                .iter()
                .rposition(|b| *b == b'"')?
                + first_composite
                + 1;
            if !escaped(body, q) {
                return Some(q);
            }
            k = q;
        }
    };
    loop {
        j = back(j);
        if j <= first_composite + 1 {
            return Err(EnvelopeError::Transient(CUT.into()));
        }
        let v1 = j;
        let v0 = match body[j - 1] {
            b'}' | b']' => break,
            b'"' => string_start(j - 1).ok_or_else(|| EnvelopeError::Transient(CUT.into()))?,
            b if is_literal(b) => {
                let mut k = j - 1;
                while k > first_composite + 1 && is_literal(body[k - 1]) {
                    k -= 1;
                }
                k
            }
            _ => return Err(EnvelopeError::Transient(CUT.into())),
        };
        j = back(v0);
        if j == 0 || body[j - 1] != b':' {
            return Err(EnvelopeError::Transient(CUT.into()));
        }
        j = back(j - 1);
        if j == 0 || body[j - 1] != b'"' {
            return Err(EnvelopeError::Transient(CUT.into()));
        }
        let k0 = string_start(j - 1).ok_or_else(|| EnvelopeError::Transient(CUT.into()))?;
        if key_is(&body[k0 + 1..j - 1], key) {
            seen.note(&body[v0..v1]);
        }
        j = back(k0);
        // Only `,` can precede a member after a composite value.
        if j == 0 || body[j - 1] != b',' {
            return Err(EnvelopeError::Transient(CUT.into()));
        }
        j -= 1;
    }
    Ok(seen.verdict())
}

impl Seen {
    fn verdict(&self) -> Peeked {
        match self.found {
            None => Peeked::Unseen,
            Some(true) if !self.twice => Peeked::Zero,
            Some(_) => Peeked::Other,
        }
    }
}

fn memchr_quote(hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == b'"')
}

/// The 2xx envelope check for [`HttpConfig::envelope`](crate::HttpConfig),
/// in one cheap look: `code_key` is read from the bytes outside the body's
/// composite values ([`peek`]). A success (`0`, `null` or unseen there)
/// passes without parsing the rows, which the page's decode then parses once
/// (and checks: a body cut short inside its rows, or a code between two
/// composite values, is caught there — see [`fetch_decoded`]). Any other code is an
/// error response, small and rare: it is decoded in full as `T` and
/// classified by `classify`, exactly as a full decode would.
pub fn check<T: DeserializeOwned>(
    body: &[u8],
    code_key: &str,
    classify: impl FnOnce(&T) -> Option<EnvelopeError>,
) -> Option<EnvelopeError> {
    match peek(body, code_key) {
        Err(e) => Some(e),
        Ok(Peeked::Zero | Peeked::Unseen) => None,
        Ok(Peeked::Other) => match decode::<T>(body) {
            Ok(e) => classify(&e),
            Err(e) => Some(e),
        },
    }
}

/// Why a page's decode rejects the page it was given.
#[derive(Debug)]
pub enum PageError {
    /// The body is cut short or not JSON, or its envelope carries an error
    /// code (read in the same pass as the rows). Handled like the HTTP
    /// client's verdicts: rate limits and transient errors are fetched
    /// again with backoff, the others fail with their kind.
    Envelope(EnvelopeError),
    /// Anything else (rows that do not match the schema): fails as is.
    Fail(Error),
}

impl PageError {
    /// A [`JsonPageError`]: a malformed body is fetched again, a data error
    /// fails as `data(message)`.
    pub fn from_json(e: JsonPageError, data: impl FnOnce(String) -> Error) -> Self {
        match e {
            JsonPageError::Malformed(m) => PageError::Envelope(EnvelopeError::Transient(
                if m.contains("ends mid-document") {
                    CUT.into()
                } else {
                    m
                },
            )),
            JsonPageError::Data(m) => PageError::Fail(data(m)),
        }
    }
}

/// Decodes a whole 2xx body that is not a page of rows (a token, an
/// account lookup) with serde: a body cut short or not JSON is transient
/// ([`PageError::Envelope`], fetched again by [`fetch_decoded`]), one that
/// does not fit `T` is `data(message)`.
pub fn json<T: DeserializeOwned>(
    body: &[u8],
    data: impl FnOnce(String) -> Error,
) -> Result<T, PageError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => PageError::Fail(data(e.to_string())),
        _ => PageError::Envelope(match decode::<serde::de::IgnoredAny>(body) {
            Err(v) => v,
            Ok(_) => EnvelopeError::Transient(format!("the response is not JSON: {e}")),
        }),
    })
}

/// The error the HTTP client reports for an envelope verdict on `endpoint`.
pub fn to_error(endpoint: &str, verdict: EnvelopeError) -> Error {
    let endpoint = endpoint.to_owned();
    match verdict {
        EnvelopeError::RateLimit(message) | EnvelopeError::QuotaExhausted(message) => {
            Error::RateLimit {
                endpoint,
                message,
                retry_after: None,
            }
        }
        EnvelopeError::Transient(message) => Error::Transient { endpoint, message },
        EnvelopeError::Auth(message) => Error::Auth { endpoint, message },
        EnvelopeError::Fatal(message) => {
            Error::Config(format!("{endpoint} refused the request: {message}"))
        }
    }
}

/// A decoded page and the retries it took (the HTTP client's and the
/// page fetches repeated here).
#[derive(Debug)]
pub struct Fetched<T> {
    /// What `decode` returned.
    pub value: T,
    /// Retries of every kind.
    pub retries: u32,
}

/// Fetches a page with `fetch` and decodes it with `decode`; when the
/// decode finds the body cut short or not JSON, or an envelope error that
/// is worth retrying (rate limit, transient), the page is fetched again
/// with exponential backoff and jitter (250 ms up to 60 s, the HTTP
/// client's defaults), at most `max_retries` times; other envelope errors
/// fail with their kind ([`to_error`]). `endpoint` names the path in errors.
pub async fn fetch_decoded<T, F, Fut, D>(
    client: &HttpClient,
    endpoint: &str,
    max_retries: u32,
    mut fetch: F,
    mut decode: D,
) -> Result<Fetched<T>, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<HttpResponse, Error>>,
    D: FnMut(&HttpResponse) -> Result<T, PageError>,
{
    let mut backoff = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(60))
        .with_max_times(max_retries as usize)
        .with_jitter()
        .build();
    let mut retries = 0u32;
    loop {
        let resp = fetch().await?;
        retries += resp.attempts.saturating_sub(1);
        let verdict = match decode(&resp) {
            Ok(value) => return Ok(Fetched { value, retries }),
            Err(PageError::Fail(e)) => return Err(e),
            Err(PageError::Envelope(v)) => v,
        };
        let retryable = matches!(
            verdict,
            EnvelopeError::RateLimit(_) | EnvelopeError::Transient(_)
        );
        if matches!(
            verdict,
            EnvelopeError::RateLimit(_) | EnvelopeError::QuotaExhausted(_)
        ) {
            client.stats().rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        let error = to_error(endpoint, verdict);
        let wait = match (retryable, backoff.next()) {
            (true, Some(wait)) => wait,
            _ => return Err(error),
        };
        client.stats().retries.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("braid_http_retries_total").increment(1);
        tracing::warn!(%error, wait_ms = wait.as_millis() as u64, "fetching the page again");
        tokio::time::sleep(wait).await;
        retries += 1;
    }
}

/// The `{code, message, request_id}` envelope of Ocean Engine and TikTok
/// (both ByteDance APIs); `code` 0 or absent means success.
#[derive(Debug, Clone, Deserialize)]
pub struct CodeMessage {
    /// The error code (0: success).
    #[serde(default)]
    pub code: Option<i64>,
    /// The vendor's words.
    #[serde(default)]
    pub message: Option<String>,
    /// The request id, for the vendor's support.
    #[serde(default)]
    pub request_id: Option<String>,
}

impl CodeMessage {
    /// The code, 0 when absent.
    pub fn code(&self) -> i64 {
        self.code.unwrap_or(0)
    }

    /// `code 40100: <message> (request_id <id>)`.
    pub fn describe(&self) -> String {
        let mut m = format!(
            "code {}: {}",
            self.code(),
            self.message.as_deref().unwrap_or("(no message)")
        );
        if let Some(r) = self.request_id.as_deref().filter(|r| !r.is_empty()) {
            m.push_str(&format!(" (request_id {r})"));
        }
        m
    }

    /// The envelope as the page's decode read it, beside the rows: the
    /// `code`, `message` and `request_id` values as their JSON text
    /// ([`JsonPage::values`](crate::JsonPage)). A code that is not an integer
    /// is a malformed envelope (transient, as in [`decode`]).
    pub fn from_values(
        code: Option<&str>,
        message: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<Self, EnvelopeError> {
        let code = match code {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .map_err(|_| not_json(&format!("`code` is {c:?}, not an integer")))?,
            ),
        };
        Ok(Self {
            code,
            message: message.map(str::to_owned),
            request_id: request_id.map(str::to_owned),
        })
    }

    /// The value paths of `code`, `message` and `request_id`, to ask a
    /// [`JsonPageDecoder`] for first (see [`CodeMessage::page`]).
    pub fn value_paths() -> Vec<Vec<String>> {
        ["code", "message", "request_id"]
            .iter()
            .map(|k| vec![(*k).to_owned()])
            .collect()
    }

    /// A decoder of the rows at `records` that also reads the envelope's
    /// code, message and request id (values 0–2) and, if `total_page`,
    /// `data.page_info.total_page` (value 3) in the same pass.
    pub fn page_decoder(
        schema: arrow_schema::SchemaRef,
        records: &[&str],
        total_page: bool,
    ) -> Result<JsonPageDecoder, Error> {
        let path: Vec<String> = records.iter().map(|s| (*s).to_owned()).collect();
        let mut values = CodeMessage::value_paths();
        if total_page {
            values.push(vec!["data".into(), "page_info".into(), "total_page".into()]);
        }
        JsonPageDecoder::new(schema, &path, &values)
            .map_err(|e| Error::Internal(format!("arrow-json decoder: {e}")))
    }

    /// `data.page_info.total_page` of a page decoded by a
    /// [`CodeMessage::page_decoder`] asked for it.
    pub fn total_page(p: &JsonPage) -> Option<u64> {
        p.values
            .get(3)
            .cloned()
            .flatten()
            .and_then(|t| t.parse().ok())
    }

    /// Decodes a page's rows and its envelope in one pass of `dec`, whose
    /// first three value paths are [`CodeMessage::value_paths`]: a
    /// malformed body or an error code classified by `classify` is a
    /// [`PageError::Envelope`], rows that do not fit are `data(message)`.
    pub fn page(
        dec: &mut JsonPageDecoder,
        body: &[u8],
        classify: impl FnOnce(&CodeMessage) -> Option<EnvelopeError>,
        data: impl FnOnce(String) -> Error,
    ) -> Result<JsonPage, PageError> {
        let p = dec
            .decode_page(body)
            .map_err(|e| PageError::from_json(e, data))?;
        let value = |i: usize| p.values.get(i).and_then(|v| v.as_deref());
        let e =
            CodeMessage::from_values(value(0), value(1), value(2)).map_err(PageError::Envelope)?;
        match classify(&e) {
            Some(verdict) => Err(PageError::Envelope(verdict)),
            None => Ok(p),
        }
    }

    /// The vendor's words from a non-2xx body, when it carries a coded
    /// envelope (for [`HttpConfig::error_message`](crate::HttpConfig)).
    pub fn vendor_message(body: &[u8]) -> Option<String> {
        let e: CodeMessage = serde_json::from_slice(body).ok()?;
        e.code.map(|_| e.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_decode_and_describe() {
        let e: CodeMessage =
            decode(br#"{"code":40100,"message":"slow down","request_id":"r1","data":{}}"#).unwrap();
        assert_eq!(e.describe(), "code 40100: slow down (request_id r1)");
        assert_eq!(decode::<CodeMessage>(br#"{"data":{}}"#).unwrap().code(), 0);
        assert_eq!(
            decode::<CodeMessage>(br#"{"code":0,"data":{"list":[1,"#).unwrap_err(),
            EnvelopeError::Transient("the response body ends mid-document (cut short)".into())
        );
        assert!(matches!(
            decode::<CodeMessage>(b"<html>"),
            Err(EnvelopeError::Transient(m)) if m.starts_with("the response is not a JSON envelope")
        ));
        assert_eq!(
            CodeMessage::vendor_message(br#"{"code":50000,"message":"busy"}"#).as_deref(),
            Some("code 50000: busy")
        );
        assert_eq!(
            CodeMessage::vendor_message(br#"{"message":"no code"}"#),
            None
        );
    }

    #[test]
    fn peek_reads_the_code_outside_the_rows_in_any_order() {
        let rows = r#"{"list":[{"code":40100,"name":"a \"}\" b"},{"x":[1,{"y":"]"}]}]}"#;
        for (body, want) in [
            (
                format!(r#"{{"code":0,"message":"OK","data":{rows}}}"#),
                Peeked::Zero,
            ),
            (
                format!(r#"{{"code":40100,"message":"OK","data":{rows}}}"#),
                Peeked::Other,
            ),
            // `data` before the code (serde_json's sorted keys put it there).
            (
                format!(r#"{{"data":{rows},"code":0,"message":"OK"}}"#),
                Peeked::Zero,
            ),
            (
                format!(r#" {{ "data" : {rows} , "code" : 51000 , "message" : "m\"" }} "#),
                Peeked::Other,
            ),
            (
                format!(r#"{{"message":"OK","data":{rows},"request_id":"r"}}"#),
                Peeked::Unseen,
            ),
            // A code inside the rows is not the envelope's.
            (format!(r#"{{"data":{rows}}}"#), Peeked::Unseen),
            (r#"{"code":null,"data":{}}"#.to_owned(), Peeked::Zero),
            (r#"{"code":0}"#.to_owned(), Peeked::Zero),
            (r#"{"code":"0"}"#.to_owned(), Peeked::Other),
            (r#"{"code":0,"data":{},"code":1}"#.to_owned(), Peeked::Zero),
            (r#"{"code":1,"data":{},"code":0}"#.to_owned(), Peeked::Other),
            (r#"{"data":{},"code":0,"code":0}"#.to_owned(), Peeked::Other),
            (r#"{"\u0063ode":7}"#.to_owned(), Peeked::Other),
            ("{}".to_owned(), Peeked::Unseen),
        ] {
            assert_eq!(peek(body.as_bytes(), "code"), Ok(want), "{body}");
        }
    }

    #[test]
    fn every_cut_of_a_body_is_transient_here_or_malformed_for_the_rows_decode() {
        use crate::json_page::{JsonPageDecoder, JsonPageError};
        use arrow_schema::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("code", DataType::Int64, true),
        ]));
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        let mut dec =
            JsonPageDecoder::new(schema, &path("data.list"), &[path("code"), path("message")])
                .unwrap();
        for full in [
            r#"{"data":{"list":[{"a":"x","code":40001},{"a":"}"}]},"code":0,"message":"OK"}"#,
            r#"{"code":0,"message":"OK","data":{"list":[{"a":"x","code":40001}]}}"#,
            r#"{"code":40001,"message":"bad","data":{"list":[]}}"#,
        ] {
            for cut in 0..full.len() {
                let body = &full.as_bytes()[..cut];
                match check::<CodeMessage>(body, "code", classify) {
                    Some(EnvelopeError::Transient(_)) => {}
                    None => assert!(
                        matches!(dec.decode_page(body), Err(JsonPageError::Malformed(_))),
                        "{:?} passed the check and decoded",
                        &full[..cut]
                    ),
                    other => panic!("{:?} -> {other:?}", &full[..cut]),
                }
            }
        }
        for body in ["", "  ", "<html>", "[1]", r#"{"code":0} x"#, r#"{"code":}"#] {
            assert!(peek(body.as_bytes(), "code").is_err(), "{body}");
        }
    }

    fn classify(e: &CodeMessage) -> Option<EnvelopeError> {
        match e.code() {
            0 => None,
            40100 => Some(EnvelopeError::RateLimit(e.describe())),
            _ => Some(EnvelopeError::Fatal(e.describe())),
        }
    }

    #[test]
    fn check_classifies_error_bodies_in_full() {
        let ok = br#"{"code":0,"message":"OK","data":{"list":[{"id":"1"}]}}"#;
        assert_eq!(check::<CodeMessage>(ok, "code", classify), None);
        // The code after the rows, the message and request id on both sides.
        let body =
            br#"{"message":"slow","data":{"list":[{"id":"1"}]},"code":40100,"request_id":"r9"}"#;
        assert_eq!(
            check::<CodeMessage>(body, "code", classify),
            Some(EnvelopeError::RateLimit(
                "code 40100: slow (request_id r9)".into()
            ))
        );
        // A cut error body is transient, as a full decode says.
        assert!(matches!(
            check::<CodeMessage>(br#"{"code":40001,"message":"bad","data":{"li"#, "code", classify),
            Some(EnvelopeError::Transient(m)) if m.contains("cut short")
        ));
        assert!(matches!(
            check::<CodeMessage>(b"<html>", "code", classify),
            Some(EnvelopeError::Transient(m)) if m.starts_with("the response is not a JSON envelope")
        ));
    }

    fn response(body: &'static str, attempts: u32) -> HttpResponse {
        HttpResponse {
            status: Default::default(),
            headers: Default::default(),
            body: bytes::Bytes::from_static(body.as_bytes()),
            attempts,
        }
    }

    /// A page's decode: the rows' pass of a `{code, data: [..]}` body.
    fn rows(resp: &HttpResponse) -> Result<usize, PageError> {
        use crate::json_page::JsonPageDecoder;
        use arrow_schema::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)]));
        let mut dec =
            JsonPageDecoder::new(schema, &["data".to_owned()], &CodeMessage::value_paths())
                .unwrap();
        CodeMessage::page(&mut dec, &resp.body, classify, |m| Error::data("s", m))
            .map(|p| p.records.num_rows())
    }

    #[tokio::test]
    async fn fetch_decoded_fetches_cut_pages_again_and_fails_others_at_once() {
        let client = HttpClient::new(crate::HttpConfig::new("http://127.0.0.1:9")).unwrap();
        let answers = std::sync::Mutex::new(vec![
            response(r#"{"code":0,"data":[{"a":"1"},{"a":"2"}]}"#, 1),
            response(r#"{"code":0,"data":[{"a":"1"},{"#, 2),
        ]);
        let fetch = || {
            let r = answers.lock().unwrap().pop();
            async move { r.ok_or_else(|| Error::Internal("no more answers".into())) }
        };
        // A cut page, then the whole one: both fetches' retries are counted.
        let f = fetch_decoded(&client, "/p", 3, fetch, rows).await.unwrap();
        assert_eq!((f.value, f.retries), (2, 2));
        assert_eq!(client.stats().retries.load(Ordering::Relaxed), 1);
        // A code between two composites, seen only by the rows' pass: a bad
        // request fails at once as the HTTP client's verdict would.
        let answers = std::sync::Mutex::new(vec![response(
            r#"{"data":[],"code":40001,"message":"bad","x":{}}"#,
            1,
        )]);
        let fetch = || {
            let r = answers.lock().unwrap().pop();
            async move { r.ok_or_else(|| Error::Internal("no more answers".into())) }
        };
        let e = fetch_decoded(&client, "/p", 3, fetch, rows)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Config(m) if m == "/p refused the request: code 40001: bad"),
            "{e}"
        );
        // Rate limits are fetched again until the retries are spent.
        let calls = std::sync::atomic::AtomicU32::new(0);
        let fetch = || {
            calls.fetch_add(1, Ordering::Relaxed);
            async {
                Ok(response(
                    r#"{"data":[],"code":40100,"message":"slow","x":[]}"#,
                    1,
                ))
            }
        };
        let e = fetch_decoded(&client, "/p", 1, fetch, rows)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::RateLimit { .. }), "{e}");
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn envelope_values_from_the_rows_pass() {
        let e = CodeMessage::from_values(Some("40100"), Some("slow"), Some("r1")).unwrap();
        assert_eq!(e.describe(), "code 40100: slow (request_id r1)");
        assert_eq!(
            CodeMessage::from_values(None, None, None).unwrap().code(),
            0
        );
        assert!(matches!(
            CodeMessage::from_values(Some("1.5"), None, None),
            Err(EnvelopeError::Transient(_))
        ));
    }
}
