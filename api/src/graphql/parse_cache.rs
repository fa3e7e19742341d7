//! A cache of parsed query documents by their text. A web app sends the same few documents
//! over and over with different variables; parsing one (a pest grammar) costs more than the
//! rest of a simple query's execution, while cloning the parsed tree is cheap. The cache also
//! remembers which query documents ran through every validation rule without an error, so that
//! the schema that skips the rules depending on the document alone can serve them
//! (`graphql::Schemas`).
//!
//! It is not an async-graphql extension: with any extension installed, every field of every
//! request resolves through the extension chain (a registry lookup and a boxed future each).
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_graphql::{
    Request,
    parser::types::{ExecutableDocument, OperationType},
};

/// Documents kept at most; past it the cache starts over (a client inventing new documents
/// cannot grow it without bound).
const MAX_DOCUMENTS: usize = 512;
/// Longer documents are parsed every time rather than held.
const MAX_CACHED_LEN: usize = 16 * 1024;

struct Entry {
    document: ExecutableDocument,
    /// The document ran once through every validation rule without an error.
    validated: bool,
}

#[derive(Default, Clone)]
pub struct ParseCache {
    documents: Arc<Mutex<HashMap<String, Entry>>>,
}

impl ParseCache {
    /// Gives `request` its parsed document: from the cache, or parsed now and kept. A document
    /// that does not parse is left to the schema, which answers with the parser's error.
    /// Returns whether the document passed every validation rule before.
    pub fn prepare(&self, request: &mut Request) -> bool {
        let cached = self.documents.lock().ok().and_then(|d| {
            d.get(&request.query)
                .map(|e| (e.document.clone(), e.validated))
        });
        if let Some((document, validated)) = cached {
            request.set_parsed_query(document);
            return validated;
        }
        if request.query.len() > MAX_CACHED_LEN {
            return false;
        }
        let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
            return false;
        };
        if let Ok(mut documents) = self.documents.lock() {
            if documents.len() >= MAX_DOCUMENTS {
                documents.clear();
            }
            documents.insert(
                request.query.clone(),
                Entry {
                    document: document.clone(),
                    validated: false,
                },
            );
        }
        request.set_parsed_query(document);
        false
    }

    /// Whether `query` is held and has passed every validation rule once.
    #[cfg(test)]
    fn validated(&self, query: &str) -> bool {
        self.documents
            .lock()
            .ok()
            .and_then(|d| d.get(query).map(|e| e.validated))
            .unwrap_or(false)
    }

    /// Records that `query` ran through every validation rule (and the whole execution)
    /// without an error. Only documents of queries are marked: a known document's variables
    /// are checked field by field as it runs, and a mutation must not run half-way before one
    /// of its variables is found wrong (decision 138).
    pub fn mark_validated(&self, query: &str) {
        if let Ok(mut documents) = self.documents.lock()
            && let Some(entry) = documents.get_mut(query)
        {
            entry.validated = entry
                .document
                .operations
                .iter()
                .all(|(_, op)| op.node.ty == OperationType::Query);
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptySubscription, Object, Schema, Variables};

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn echo(&self, text: String) -> String {
            text
        }
    }

    struct Mutation;

    #[Object]
    impl Mutation {
        async fn store(&self, value: i32) -> i32 {
            value
        }
    }

    fn request(query: &str, variables: serde_json::Value) -> Request {
        Request::new(query).variables(Variables::from_json(variables))
    }

    #[tokio::test]
    async fn a_cached_document_answers_with_each_requests_own_variables() {
        let cache = ParseCache::default();
        let schema = Schema::build(Query, Mutation, EmptySubscription).finish();
        let query = "query Echo($t: String!) { echo(text: $t) }";
        for text in ["first", "second"] {
            let mut one = request(query, serde_json::json!({ "t": text }));
            assert!(!cache.prepare(&mut one));
            let response = schema.execute(one).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            assert_eq!(
                response.data.into_json().ok(),
                Some(serde_json::json!({ "echo": text }))
            );
        }
        assert_eq!(cache.documents.lock().map(|d| d.len()).ok(), Some(1));

        // A document that does not parse is answered with the parser's error every time, and
        // not kept.
        for _ in 0..2 {
            let mut broken = request("query { echo(", serde_json::json!({}));
            assert!(!cache.prepare(&mut broken));
            let response = schema.execute(broken).await;
            assert!(!response.errors.is_empty());
        }
        assert_eq!(cache.documents.lock().map(|d| d.len()).ok(), Some(1));
    }

    #[test]
    fn only_documents_of_queries_are_marked_known() {
        let cache = ParseCache::default();
        let echo = "query($t: String!) { echo(text: $t) }";
        let store = "mutation($v: Int!) { store(value: $v) }";
        for query in [echo, store] {
            assert!(!cache.prepare(&mut request(query, serde_json::json!({}))));
            cache.mark_validated(query);
        }
        assert!(cache.validated(echo));
        assert!(cache.prepare(&mut request(echo, serde_json::json!({}))));
        // A mutation's variables must be checked before any of its fields runs.
        assert!(!cache.validated(store));
        assert!(!cache.prepare(&mut request(store, serde_json::json!({}))));
        // A document never seen cannot be marked.
        cache.mark_validated("{ echo(text: \"x\") }");
        assert!(!cache.validated("{ echo(text: \"x\") }"));
    }
}
