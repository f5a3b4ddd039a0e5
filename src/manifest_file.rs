//! Monitors files on disk: YAML, JSON or TOML, told apart by the file's
//! extension, read into the JSON the API takes and written back from it.

use std::path::Path;

use serde_json::Value;

/// The formats a monitors file may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Toml,
}

impl Format {
    /// By extension: `.yaml`/`.yml`, `.json`, `.toml`.
    pub fn of(path: &Path) -> Result<Self, String> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("yaml" | "yml") => Ok(Self::Yaml),
            Some("json") => Ok(Self::Json),
            Some("toml") => Ok(Self::Toml),
            _ => Err(format!(
                "{}: the name must end in .yaml, .yml, .json or .toml",
                path.display()
            )),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "yaml" | "yml" => Ok(Self::Yaml),
            "json" => Ok(Self::Json),
            "toml" => Ok(Self::Toml),
            other => Err(format!(
                "the format must be yaml, json or toml, got `{other}`"
            )),
        }
    }
}

/// Reads a monitors file into JSON: in the format its extension names, or
/// failing that in another one that reads it whole (an export saved under
/// the wrong extension, `upwatch export > monitors.json`, still applies).
pub fn read(path: &Path) -> Result<Value, String> {
    let format = Format::of(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
    decode(&text, format)
        .or_else(|error| {
            [Format::Yaml, Format::Toml]
                .into_iter()
                .filter(|other| *other != format)
                .find_map(|other| decode(&text, other).ok().filter(Value::is_object))
                .ok_or(error)
        })
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Decodes a monitors file's text.
pub fn decode(text: &str, format: Format) -> Result<Value, String> {
    match format {
        Format::Json => serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}")),
        Format::Yaml => serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML: {e}")),
        Format::Toml => {
            let table: toml::Table =
                toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?;
            serde_json::to_value(table).map_err(|e| format!("cannot read the TOML: {e}"))
        }
    }
}

/// Writes `value` (an export: no nulls) as a file of `format`.
pub fn encode(value: &Value, format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|text| text + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_yaml_ng::to_string(value).map_err(|e| e.to_string()),
        Format::Toml => toml::to_string(value).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_format_reads_back_what_it_wrote() {
        let file = json!({
            "monitors": [{
                "name": "api", "url": "https://api.example/health", "tags": ["prod"],
                "headers": {"Accept": "application/json"}, "paused": false, "interval_seconds": 30
            }],
            "channels": [{"name": "ops", "kind": "slack", "url": "https://hooks.example/x", "on": ["down"]}]
        });
        for format in [Format::Yaml, Format::Json, Format::Toml] {
            let text = encode(&file, format).unwrap();
            assert_eq!(decode(&text, format).unwrap(), file, "{format:?}:\n{text}");
        }
    }

    #[test]
    fn a_file_under_the_wrong_extension_still_reads() {
        let dir = std::env::temp_dir().join(format!("upwatch-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("exported.json");
        std::fs::write(
            &path,
            "monitors:\n  - name: a\n    url: https://a.example/\n",
        )
        .unwrap();
        let read = read(&path).unwrap();
        assert_eq!(read["monitors"][0]["name"], "a");
        std::fs::write(&path, "{not json, not yaml: [").unwrap();
        assert!(read_error(&path).contains("not valid JSON"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn read_error(path: &Path) -> String {
        read(path).unwrap_err()
    }

    #[test]
    fn the_extension_names_the_format() {
        assert_eq!(Format::of(Path::new("a/monitors.YML")), Ok(Format::Yaml));
        assert_eq!(Format::of(Path::new("m.toml")), Ok(Format::Toml));
        assert!(Format::of(Path::new("monitors.txt")).is_err());
        assert!(decode("monitors: [", Format::Yaml).is_err());
    }
}
