//! Helpers for vendors that report errors inside a 2xx JSON body
//! (classified through [`HttpConfig::envelope`](crate::HttpConfig)).

use serde::Deserialize;

use crate::EnvelopeError;

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
}
