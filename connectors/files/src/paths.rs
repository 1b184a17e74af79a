//! Resolving a stream's `path` (file, directory or glob) to files.

use std::path::{Path, PathBuf};

use braid_core::{Error, Result};

use crate::config::{FileFormat, StreamConfig};

/// The files of a stream, in sorted path order, and their format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedFiles {
    /// The files' format.
    pub format: FileFormat,
    /// The files, sorted by path.
    pub files: Vec<PathBuf>,
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn format_of(path: &Path) -> Option<FileFormat> {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(FileFormat::from_extension)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Lists the files of `stream`, relative paths resolved against `base_dir`
/// (or the current directory). No file is an empty list, not an error.
pub fn resolve(stream: &StreamConfig, base_dir: Option<&Path>) -> Result<ResolvedFiles> {
    let label = |m: String| Error::Config(format!("files: stream `{}`: {m}", stream.name));
    let raw = stream.path.as_str();
    let glob = is_glob(raw);
    let relative = !Path::new(raw).is_absolute();
    let mut was_dir = false;

    let mut files: Vec<PathBuf> = if glob {
        let pattern = match base_dir {
            Some(base) if relative => format!(
                "{}/{}",
                glob::Pattern::escape(&base.to_string_lossy()),
                raw.trim_start_matches("./")
            ),
            _ => raw.to_owned(),
        };
        let entries = glob::glob(&pattern)
            .map_err(|e| label(format!("`path` `{raw}` is not a valid glob: {e}")))?;
        let mut out = Vec::new();
        for entry in entries {
            let p = entry.map_err(|e| label(format!("cannot list `{raw}`: {e}")))?;
            if p.is_file() && !is_hidden(&p) {
                out.push(p);
            }
        }
        out
    } else {
        let p = match base_dir {
            Some(base) if relative => base.join(raw),
            _ => PathBuf::from(raw),
        };
        if p.is_dir() {
            was_dir = true;
            let rd = std::fs::read_dir(&p)
                .map_err(|e| label(format!("cannot list directory `{}`: {e}", p.display())))?;
            let mut out = Vec::new();
            for entry in rd {
                let entry = entry
                    .map_err(|e| label(format!("cannot list directory `{}`: {e}", p.display())))?;
                let f = entry.path();
                if !f.is_file() || is_hidden(&f) {
                    continue;
                }
                // Only files whose extension matches the format (or any known
                // format when none is set).
                match (stream.format, format_of(&f)) {
                    (_, None) => continue,
                    (Some(want), Some(got)) if want != got => continue,
                    _ => out.push(f),
                }
            }
            out
        } else if p.is_file() {
            vec![p]
        } else {
            Vec::new()
        }
    };
    files.sort();
    files.dedup();

    let format = match stream.format {
        Some(f) => f,
        None => {
            let from_pattern = if !was_dir {
                format_of(Path::new(raw))
            } else {
                None
            };
            match from_pattern {
                Some(f) => f,
                None => {
                    let mut found: Option<FileFormat> = None;
                    for f in &files {
                        match (format_of(f), found) {
                            (None, _) => {
                                return Err(label(format!(
                                    "cannot tell the format of `{}` from its extension; set `format` (jsonl or csv)",
                                    f.display()
                                )))
                            }
                            (Some(g), Some(prev)) if g != prev => {
                                return Err(label(format!(
                                    "`{raw}` matches both {} and {} files; set `format` or narrow `path`",
                                    prev.as_str(),
                                    g.as_str()
                                )))
                            }
                            (Some(g), _) => found = Some(g),
                        }
                    }
                    // No files: the caller reports that; the format is moot.
                    found.unwrap_or(FileFormat::Jsonl)
                }
            }
        }
    };
    Ok(ResolvedFiles { format, files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FilesConfig;
    use serde_json::json;

    fn stream(path: &str, format: Option<&str>) -> StreamConfig {
        let mut s = json!({"name": "s", "path": path});
        if let Some(f) = format {
            s["format"] = json!(f);
        }
        FilesConfig::from_value(json!({"streams": [s]}))
            .unwrap()
            .streams
            .remove(0)
    }

    fn touch(dir: &Path, name: &str) {
        std::fs::write(dir.join(name), "").unwrap();
    }

    fn names(r: &ResolvedFiles) -> Vec<String> {
        r.files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn directory_lists_matching_extensions_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "b.jsonl",
            "a.jsonl",
            "c.ndjson",
            "notes.txt",
            ".hidden.jsonl",
        ] {
            touch(dir.path(), n);
        }
        let r = resolve(&stream(dir.path().to_str().unwrap(), None), None).unwrap();
        assert_eq!(r.format, FileFormat::Jsonl);
        assert_eq!(names(&r), ["a.jsonl", "b.jsonl", "c.ndjson"]);
    }

    #[test]
    fn directory_with_mixed_formats_needs_a_format() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "a.jsonl");
        touch(dir.path(), "b.csv");
        let e = resolve(&stream(dir.path().to_str().unwrap(), None), None).unwrap_err();
        assert!(e.to_string().contains("set `format`"), "{e}");
        let r = resolve(&stream(dir.path().to_str().unwrap(), Some("csv")), None).unwrap();
        assert_eq!(names(&r), ["b.csv"]);
    }

    #[test]
    fn glob_relative_to_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        for n in ["2024-02.csv", "2024-01.csv", "other.jsonl"] {
            touch(&dir.path().join("data"), n);
        }
        let r = resolve(&stream("./data/*.csv", None), Some(dir.path())).unwrap();
        assert_eq!(r.format, FileFormat::Csv);
        assert_eq!(names(&r), ["2024-01.csv", "2024-02.csv"]);
        let r = resolve(&stream("data/other.jsonl", None), Some(dir.path())).unwrap();
        assert_eq!(names(&r), ["other.jsonl"]);
        let r = resolve(&stream("data/missing.jsonl", None), Some(dir.path())).unwrap();
        assert!(r.files.is_empty());
    }
}
