//! serde over the rule loader's YAML tree ([`crate::yaml`]), so that
//! a config error points at the line and column of the value that caused it.
//!
//! Generic YAML deserialisers lose positions for errors raised by `Deserialize`
//! impls (an unknown key, a bad size); here every node keeps its span, and an
//! error that does not know its place yet is given the place of the innermost
//! node it came from. The tree is already bounded in depth and size by the parser.
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer as _, Visitor};

use crate::yaml::{Node, NodeKind, Pos};

/// A deserialisation error and where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    pub pos: Option<Pos>,
    pub message: String,
}

impl DeError {
    /// Places the error at `pos` unless a deeper node already did.
    fn at(mut self, pos: Pos) -> Self {
        self.pos.get_or_insert(pos);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            pos: None,
            message: msg.to_string(),
        }
    }
}

/// Deserialises `T` from `node`.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    T::deserialize(NodeDe(node))
}

/// A deserializer for one node.
pub struct NodeDe<'a>(pub &'a Node);

impl<'a> NodeDe<'a> {
    fn pos(&self) -> Pos {
        self.0.span.start
    }

    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.0.kind {
            NodeKind::Scalar { value, plain } => Some((value.as_str(), *plain)),
            _ => None,
        }
    }

    fn unexpected(&self) -> de::Unexpected<'a> {
        match &self.0.kind {
            NodeKind::Scalar { value, .. } => de::Unexpected::Str(value),
            NodeKind::Seq(_) => de::Unexpected::Seq,
            NodeKind::Map(_) => de::Unexpected::Map,
        }
    }

    fn integer<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let pos = self.pos();
        match self.scalar() {
            Some((s, true)) => {
                let s = s.replace('_', "");
                if let Ok(u) = s.parse::<u64>() {
                    visitor.visit_u64(u)
                } else if let Ok(i) = s.parse::<i64>() {
                    visitor.visit_i64(i)
                } else {
                    Err(de::Error::invalid_type(self.unexpected(), &visitor))
                }
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(pos))
    }
}

macro_rules! integers {
    ($($m:ident)*) => {$(
        fn $m<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.integer(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let pos = self.pos();
        match &self.0.kind {
            NodeKind::Scalar { value, plain } => {
                if *plain {
                    if self.0.is_null() {
                        return visitor.visit_unit().map_err(|e: DeError| e.at(pos));
                    }
                    if let Some(b) = self.0.as_bool() {
                        return visitor.visit_bool(b).map_err(|e: DeError| e.at(pos));
                    }
                    if let Ok(u) = value.parse::<u64>() {
                        return visitor.visit_u64(u).map_err(|e: DeError| e.at(pos));
                    }
                    if let Ok(i) = value.parse::<i64>() {
                        return visitor.visit_i64(i).map_err(|e: DeError| e.at(pos));
                    }
                }
                visitor
                    .visit_borrowed_str(value)
                    .map_err(|e: DeError| e.at(pos))
            }
            NodeKind::Seq(items) => visitor
                .visit_seq(SeqDe(items.iter()))
                .map_err(|e: DeError| e.at(pos)),
            NodeKind::Map(entries) => visitor
                .visit_map(MapDe {
                    entries: entries.iter(),
                    value: None,
                })
                .map_err(|e: DeError| e.at(pos)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.as_bool() {
            Some(b) => visitor.visit_bool(b),
            None => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(self.pos()))
    }

    integers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
              deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar().and_then(|(s, _)| s.parse::<f64>().ok()) {
            Some(f) => visitor.visit_f64(f),
            None => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(self.pos()))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some((s, _)) => visitor.visit_borrowed_str(s),
            None => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(self.pos()))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_unit()
        } else {
            Err(de::Error::invalid_type(self.unexpected(), &visitor))
                .map_err(|e: DeError| e.at(self.pos()))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Seq(items) => visitor.visit_seq(SeqDe(items.iter())),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(self.pos()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            NodeKind::Map(entries) => visitor.visit_map(MapDe {
                entries: entries.iter(),
                value: None,
            }),
            // An empty section (`log:` with nothing under it) is an empty mapping.
            _ if self.0.is_null() => visitor.visit_map(MapDe {
                entries: [].iter(),
                value: None,
            }),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(self.pos()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        // Only unit variants, written as a plain scalar (`format: json`).
        match self.scalar() {
            Some((s, _)) => visitor.visit_enum(s.into_deserializer()),
            None => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(self.pos()))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqDe<'a>(std::slice::Iter<'a, Node>);

impl<'de> de::SeqAccess<'de> for SeqDe<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.0.next() {
            Some(node) => seed
                .deserialize(NodeDe(node))
                .map(Some)
                .map_err(|e: DeError| e.at(node.span.start)),
            None => Ok(None),
        }
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
}

impl<'de> de::MapAccess<'de> for MapDe<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(NodeDe(key))
                    .map(Some)
                    .map_err(|e: DeError| e.at(key.span.start))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("a value without a key"))?;
        seed.deserialize(NodeDe(node))
            .map_err(|e: DeError| e.at(node.span.start))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::yaml;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "snake_case")]
    enum Colour {
        Red,
        Blue,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        size: u32,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        colour: Option<Colour>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default)]
        map: BTreeMap<String, String>,
        #[serde(default)]
        flag: bool,
    }

    fn de<T: for<'a> Deserialize<'a>>(text: &str) -> Result<T, DeError> {
        let docs = yaml::parse(text).unwrap();
        // The tree must outlive the borrow the derive asks for.
        let node: &'static Node = Box::leak(Box::new(docs[0].clone()));
        from_node(node)
    }

    #[test]
    fn values_of_every_shape() {
        let o: Outer = de("inner: {size: 1_024, name: \"x\", colour: blue}\nlist: [a, 'b']\nmap: {k: v}\nflag: true\n").unwrap();
        assert_eq!(o.inner.size, 1024);
        assert_eq!(o.inner.name.as_deref(), Some("x"));
        assert_eq!(o.inner.colour, Some(Colour::Blue));
        assert_eq!(o.list, ["a", "b"]);
        assert_eq!(o.map["k"], "v");
        assert!(o.flag);
        let o: Outer = de("inner:\n  size: 3\n  name: ~\n").unwrap();
        assert_eq!(o.inner.name, None);
    }

    #[test]
    fn errors_point_at_the_offending_node() {
        let e = de::<Outer>("inner:\n  size: 3\n  colur: red\n").unwrap_err();
        let pos = e.pos.unwrap();
        assert_eq!((pos.line, pos.col), (3, 2));
        assert!(e.message.contains("unknown field `colur`"), "{e}");
        assert!(e.message.contains("`colour`"), "{e}");

        let e = de::<Outer>("inner:\n  size: many\n").unwrap_err();
        let pos = e.pos.unwrap();
        assert_eq!((pos.line, pos.col), (2, 8));
        assert!(e.message.contains("expected u32"), "{e}");

        let e = de::<Outer>("inner: {size: 1, colour: green}\n").unwrap_err();
        assert_eq!(e.pos.unwrap().col, 25);
        assert!(e.message.contains("unknown variant `green`"), "{e}");

        let e = de::<Outer>("list: [a]\n").unwrap_err();
        assert!(e.message.contains("missing field `inner`"), "{e}");
        assert_eq!(e.pos.unwrap().line, 1);

        let e = de::<Outer>("inner: {size: 1}\nlist: [a, [b]]\n").unwrap_err();
        let pos = e.pos.unwrap();
        assert_eq!((pos.line, pos.col), (2, 10));
    }
}
