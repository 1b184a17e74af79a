//! String interning into dense `u32` ids: one string buffer, one `u64` per
//! string (its end offset and its tag) and a `hashbrown::HashTable<u32>`
//! keyed by an `ahash` of the tag and bytes.
//! Interning borrows the caller's bytes (e.g. an Arrow string array's value
//! buffer) and copies each distinct string once: no allocation per row.

use hashbrown::HashTable;

/// Dense ids for distinct `(tag, string)` pairs, in first-seen order.
///
/// The tag (an identifier type's index) is part of the key, so the same
/// text under two types gets two ids.
#[derive(Debug, Clone)]
pub struct Interner {
    buf: String,
    /// Per id: the end of its string in `buf` (low 48 bits) and its tag
    /// (high 16 bits), so that a look-up reads one entry, not two arrays.
    ends: Vec<u64>,
    table: HashTable<u32>,
    hasher: ahash::RandomState,
}

impl Default for Interner {
    fn default() -> Self {
        Interner::with_capacity(0, 0)
    }
}

impl Interner {
    /// An empty interner sized for `n` strings of `bytes` total.
    pub fn with_capacity(n: usize, bytes: usize) -> Interner {
        Interner {
            buf: String::with_capacity(bytes),
            ends: Vec::with_capacity(n),
            table: HashTable::with_capacity(n),
            // Fixed seeds: lookups only, nothing observable depends on them.
            hasher: ahash::RandomState::with_seeds(
                0x243f_6a88_85a3_08d3,
                0x1319_8a2e_0370_7344,
                0xa409_3822_299f_31d0,
                0x082e_fa98_ec4e_6c89,
            ),
        }
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether nothing was interned.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    #[inline]
    fn hash(hasher: &ahash::RandomState, tag: u16, s: &[u8]) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = hasher.build_hasher();
        h.write_u16(tag);
        h.write(s);
        h.finish()
    }

    #[inline]
    fn end(e: u64) -> usize {
        (e & ((1 << 48) - 1)) as usize
    }

    #[inline]
    fn tag_of(e: u64) -> u16 {
        (e >> 48) as u16
    }

    #[inline]
    fn bytes_of<'a>(buf: &'a str, ends: &[u64], id: u32) -> &'a [u8] {
        Self::str_of(buf, ends, id).as_bytes()
    }

    #[inline]
    fn str_of<'a>(buf: &'a str, ends: &[u64], id: u32) -> &'a str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { Self::end(ends[i - 1]) };
        // Whole `&str`s are appended: the ends are char boundaries (a
        // check of two bytes, not a UTF-8 validation).
        &buf[start..Self::end(ends[i])]
    }

    /// Makes room for `additional` more strings of `bytes` in all, so
    /// that interning them does not grow (and rehash) the table, nor copy
    /// the string buffer, step by step. Room reserved and not used is
    /// address space, not memory.
    pub fn reserve(&mut self, additional: usize, bytes: usize) {
        self.buf.reserve(bytes);
        let (buf, ends, hasher) = (&self.buf, &self.ends, &self.hasher);
        self.table.reserve(additional, |&id| {
            Self::hash(
                hasher,
                Self::tag_of(ends[id as usize]),
                Self::bytes_of(buf, ends, id),
            )
        });
        self.ends.reserve(additional);
    }

    /// The id of `s` under `tag`, interning it if new.
    #[inline]
    pub fn intern(&mut self, tag: u16, s: &str) -> u32 {
        let bytes = s.as_bytes();
        let h = Self::hash(&self.hasher, tag, bytes);
        let (buf, ends, hasher) = (&self.buf, &self.ends, &self.hasher);
        let entry = self.table.entry(
            h,
            |&id| Self::tag_of(ends[id as usize]) == tag && Self::bytes_of(buf, ends, id) == bytes,
            |&id| {
                Self::hash(
                    hasher,
                    Self::tag_of(ends[id as usize]),
                    Self::bytes_of(buf, ends, id),
                )
            },
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(o) => *o.get(),
            hashbrown::hash_table::Entry::Vacant(v) => {
                let id = self.ends.len() as u32;
                v.insert(id);
                self.buf.push_str(s);
                assert!(self.buf.len() < 1 << 48, "interner over 256 TiB");
                self.ends
                    .push(self.buf.len() as u64 | (u64::from(tag) << 48));
                id
            }
        }
    }

    /// The id of `s` under `tag`, if interned.
    pub fn get(&self, tag: u16, s: &str) -> Option<u32> {
        let bytes = s.as_bytes();
        let h = Self::hash(&self.hasher, tag, bytes);
        self.table
            .find(h, |&id| {
                Self::tag_of(self.ends[id as usize]) == tag
                    && Self::bytes_of(&self.buf, &self.ends, id) == bytes
            })
            .copied()
    }

    /// The string of `id`.
    #[inline]
    pub fn str(&self, id: u32) -> &str {
        Self::str_of(&self.buf, &self.ends, id)
    }

    /// The tag of `id`.
    #[inline]
    pub fn tag(&self, id: u32) -> u16 {
        Self::tag_of(self.ends[id as usize])
    }

    /// A hash of `id`'s tag and bytes that does not depend on the machine
    /// or the interning order (FNV-1a), for deterministic processing order.
    pub fn stable_hash(&self, id: u32) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self
            .tag(id)
            .to_le_bytes()
            .iter()
            .chain(Self::bytes_of(&self.buf, &self.ends, id))
        {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_by_tag_and_text() {
        let mut i = Interner::default();
        let a = i.intern(0, "a@x.com");
        let b = i.intern(1, "a@x.com");
        let c = i.intern(0, "b@x.com");
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(i.intern(0, "a@x.com"), a);
        assert_eq!(i.get(1, "a@x.com"), Some(b));
        assert_eq!(i.get(2, "a@x.com"), None);
        assert_eq!(i.str(c), "b@x.com");
        assert_eq!(i.tag(b), 1);
        assert_eq!(i.intern(0, ""), 3);
        assert_eq!(i.str(3), "");
        for n in 0..10_000 {
            i.intern(3, &n.to_string());
        }
        assert_eq!(i.get(3, "9999").map(|id| i.str(id)), Some("9999"));
        assert_eq!(i.len(), 10_004);
    }
}
