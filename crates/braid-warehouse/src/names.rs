use crate::WarehouseError;

/// Check that `name` is a non-empty `[A-Za-z0-9_-]+` (safe as one path segment).
pub(crate) fn validate(kind: &'static str, name: &str) -> Result<(), WarehouseError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(WarehouseError::InvalidName {
            kind,
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_rejects_path_tricks() {
        for good in ["hubspot", "contacts_v2", "shop-1", "A9"] {
            assert!(validate("source", good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a\\b", "a b", "über", "x.y", "a\0"] {
            let err = validate("stream", bad).unwrap_err();
            assert!(
                matches!(&err, WarehouseError::InvalidName { kind: "stream", name } if name == bad),
                "{bad:?}: {err}"
            );
        }
        assert!(validate("source", &"a".repeat(256)).is_err());
    }
}
