//! A cache of parsed query documents by their text. A web app sends the same few documents
//! over and over with different variables; parsing one (a pest grammar) costs more than the
//! rest of a simple query's execution, while cloning the parsed tree is cheap. The cache also
//! remembers which query documents passed every validation rule, so that the schema that
//! skips the rules depending on the document alone can serve them (`graphql::Schemas`).
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_graphql::{
    ServerError, ServerResult, ValidationResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation},
    parser::types::{ExecutableDocument, OperationType},
};

/// Documents kept at most; past it the cache starts over (a client inventing new documents
/// cannot grow it without bound).
const MAX_DOCUMENTS: usize = 512;
/// Longer documents are parsed every time rather than held.
const MAX_CACHED_LEN: usize = 16 * 1024;

struct Entry {
    document: ExecutableDocument,
    /// The document passed every validation rule once (see [`ParseCache::validated`]).
    validated: bool,
}

#[derive(Default, Clone)]
pub struct ParseCache {
    documents: Arc<Mutex<HashMap<String, Entry>>>,
    /// This schema runs every validation rule, so a document that passes is marked.
    validates_fully: bool,
}

impl ParseCache {
    /// The same cache, for the schema that runs every validation rule.
    pub fn for_full_validation(&self) -> Self {
        Self {
            documents: self.documents.clone(),
            validates_fully: true,
        }
    }

    /// Whether `query` is held and has passed the full validation once. The rules that
    /// depend on the document alone need not run for it again; those that depend on a
    /// request's variables still do, and argument values are checked as they are parsed.
    pub fn validated(&self, query: &str) -> bool {
        self.documents
            .lock()
            .ok()
            .and_then(|d| d.get(query).map(|e| e.validated))
            .unwrap_or(false)
    }

    /// Marks a document that passed every rule. Only documents of queries are marked: a
    /// known document's variables are checked field by field as it runs, and a mutation must
    /// not run half-way before one of its variables is found wrong (decision 138).
    fn mark_validated(&self, query: &str) {
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

impl ExtensionFactory for ParseCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestCache {
            shared: self.clone(),
            query: Mutex::new(None),
        })
    }
}

/// The cache as one request sees it: it remembers the request's document text between the
/// parse and the validation.
struct RequestCache {
    shared: ParseCache,
    query: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for RequestCache {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let cached = self
            .shared
            .documents
            .lock()
            .ok()
            .and_then(|d| d.get(query).map(|e| (e.document.clone(), e.validated)));
        if let Some((document, validated)) = cached {
            if !validated && let Ok(mut slot) = self.query.lock() {
                *slot = Some(query.to_string());
            }
            return Ok(document);
        }
        // Only documents that parsed are kept; an error is produced afresh each time.
        let document = next.run(ctx, query, variables).await?;
        if query.len() <= MAX_CACHED_LEN
            && let Ok(mut documents) = self.shared.documents.lock()
        {
            if documents.len() >= MAX_DOCUMENTS {
                documents.clear();
            }
            documents.insert(
                query.to_string(),
                Entry {
                    document: document.clone(),
                    validated: false,
                },
            );
            if let Ok(mut slot) = self.query.lock() {
                *slot = Some(query.to_string());
            }
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        let query = self.query.lock().ok().and_then(|mut slot| slot.take());
        if result.is_ok()
            && let Some(query) = query
            && self.shared.validates_fully
        {
            self.shared.mark_validated(&query);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, ValidationMode};

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

    #[tokio::test]
    async fn only_queries_that_passed_every_rule_are_marked_known() {
        let cache = ParseCache::default();
        let full = Schema::build(Query, Mutation, EmptySubscription)
            .extension(cache.for_full_validation())
            .finish();
        let fast = Schema::build(Query, Mutation, EmptySubscription)
            .validation_mode(ValidationMode::Fast)
            .extension(cache.clone())
            .finish();
        let run = |schema: &Schema<Query, Mutation, EmptySubscription>, query: &str| {
            let request = async_graphql::Request::new(query).variables(Variables::from_json(
                serde_json::json!({ "t": "x", "v": 1 }),
            ));
            let schema = schema.clone();
            async move { schema.execute(request).await }
        };

        // The fast schema never marks, even a document that would pass.
        let echo = "query($t: String!) { echo(text: $t) }";
        assert!(run(&fast, echo).await.errors.is_empty());
        assert!(!cache.validated(echo));
        assert!(run(&full, echo).await.errors.is_empty());
        assert!(cache.validated(echo));

        // A document that breaks a rule (an unused variable) stays unknown.
        let unused = "query($t: String!, $v: Int) { echo(text: $t) }";
        assert!(!run(&full, unused).await.errors.is_empty());
        assert!(!cache.validated(unused));

        // A mutation passes but is not marked: its variables must be checked before any of
        // its fields runs.
        let store = "mutation($v: Int!) { store(value: $v) }";
        assert!(run(&full, store).await.errors.is_empty());
        assert!(!cache.validated(store));
    }

    #[tokio::test]
    async fn a_cached_document_answers_with_each_requests_own_variables() {
        let cache = ParseCache::default();
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(cache.clone())
            .finish();
        let query = "query Echo($t: String!) { echo(text: $t) }";
        for text in ["first", "second"] {
            let request = async_graphql::Request::new(query)
                .variables(Variables::from_json(serde_json::json!({ "t": text })));
            let response = schema.execute(request).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            assert_eq!(
                response.data.into_json().ok(),
                Some(serde_json::json!({ "echo": text }))
            );
        }
        assert_eq!(cache.documents.lock().map(|d| d.len()).ok(), Some(1));

        // A document that does not parse is answered with its error every time, and not kept.
        for _ in 0..2 {
            let response = schema.execute("query { echo(").await;
            assert!(!response.errors.is_empty());
        }
        assert_eq!(cache.documents.lock().map(|d| d.len()).ok(), Some(1));
    }
}
