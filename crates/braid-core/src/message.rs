use arrow_array::RecordBatch;
use futures::stream::BoxStream;

/// What a source yields while reading.
#[derive(Debug, Clone)]
pub enum Message {
    /// Records of one stream; the batch's schema is the stream's schema.
    Batch {
        /// Stream name.
        stream: String,
        /// The records.
        batch: RecordBatch,
    },
    /// Everything of `stream` yielded so far may be committed.
    ///
    /// In incremental mode a checkpoint promises that every record whose
    /// cursor is below the highest cursor yielded so far has been yielded:
    /// a connector whose output is not ordered by cursor checkpoints only
    /// at the end of the stream. `resume` is connector-private state stored
    /// with the checkpoint and handed back on the next read.
    Checkpoint {
        /// Stream name.
        stream: String,
        /// Connector-private resume state, if any.
        resume: Option<serde_json::Value>,
    },
    /// Counters since the last `Progress` of this stream (for run reports).
    Progress {
        /// Stream name.
        stream: String,
        /// Pages (HTTP responses, files, ...) read.
        pages: u64,
        /// Requests retried after a transient failure or rate limit.
        retries: u64,
    },
}

/// The stream of messages a read produces.
pub type MessageStream = BoxStream<'static, crate::Result<Message>>;
