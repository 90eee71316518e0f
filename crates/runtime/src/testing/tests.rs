//! The scripted engine keeps the event-order contract of `crate::api::event`
//! that front ends rely on.

use std::time::Duration;

use futures::StreamExt;

use super::ScriptedEngine;
use crate::api::{
    ChatTask, ContentPart, Engine, EngineError, Event, FinishReason, GenerateRequest, Message,
    OUTPUT_SAMPLE_RATE, OutputMode, Role, SamplingParams, SpeechOutput, Task,
};

fn chat(text: &str, output: OutputMode) -> GenerateRequest {
    chat_messages(vec![Message::text(Role::User, text)], output)
}

fn chat_messages(messages: Vec<Message>, output: OutputMode) -> GenerateRequest {
    GenerateRequest {
        request_id: "test".into(),
        task: Task::Chat(ChatTask {
            messages,
            ..ChatTask::default()
        }),
        sampling: SamplingParams::default(),
        output,
    }
}

fn speech() -> OutputMode {
    OutputMode::Speech(SpeechOutput {
        voice: "Ethan".into(),
        speed: 1.0,
    })
}

async fn events(engine: &ScriptedEngine, request: GenerateRequest) -> Vec<Event> {
    let stream = engine.submit(request).await.expect("admitted");
    stream.collect().await
}

#[tokio::test]
async fn text_replies_end_with_usage_then_finish() {
    let engine = ScriptedEngine::new();
    let ev = events(&engine, chat("hi", OutputMode::Text)).await;
    let n = ev.len();
    assert!(matches!(ev[n - 2], Event::Usage(_)));
    assert_eq!(ev[n - 1], Event::Finished(FinishReason::Stop));
    assert!(ev[..n - 2].iter().all(|e| matches!(e, Event::TextDelta(_))));
}

#[tokio::test]
async fn speech_replies_keep_the_documented_order() {
    let engine = ScriptedEngine::new();
    let ev = events(&engine, chat("hello", speech())).await;
    let Event::AudioStarted { id } = &ev[0] else {
        panic!("AudioStarted must come first: {:?}", ev[0]);
    };
    let n = ev.len();
    let Event::AudioDone(done) = &ev[n - 3] else {
        panic!("AudioDone before Usage and Finished");
    };
    assert_eq!(&done.id, id);
    assert!(matches!(ev[n - 2], Event::Usage(_)));
    assert!(matches!(ev[n - 1], Event::Finished(_)));
    let mut next = 0;
    let mut samples = 0;
    for e in &ev {
        if let Event::AudioChunk(c) = e {
            assert_eq!(c.start_ms, next);
            next += c.duration_ms;
            samples += c.samples.len();
        }
    }
    assert_eq!(next, samples as u64 * 1000 / u64::from(OUTPUT_SAMPLE_RATE));
}

#[tokio::test]
async fn spoken_replies_can_be_referred_to_later() {
    let engine = ScriptedEngine::new();
    let ev = events(&engine, chat("remember", speech())).await;
    let Event::AudioStarted { id } = &ev[0] else {
        panic!()
    };
    let mut reply = Message::text(Role::Assistant, "");
    reply.content = vec![ContentPart::SpokenReply {
        audio_id: id.clone(),
    }];
    let ok = engine
        .submit(chat_messages(vec![reply.clone()], OutputMode::Text))
        .await;
    assert!(ok.is_ok());
    reply.content = vec![ContentPart::SpokenReply {
        audio_id: "audio_unknown".into(),
    }];
    let err = engine
        .submit(chat_messages(vec![reply], OutputMode::Text))
        .await
        .err();
    assert_eq!(
        err,
        Some(EngineError::UnknownAudioId {
            id: "audio_unknown".into()
        })
    );
}

#[tokio::test]
async fn directives_fail_as_asked() {
    let engine = ScriptedEngine::new();
    let err = engine
        .submit(chat("[[omnivox-test:overload]]", OutputMode::Text))
        .await
        .err();
    assert!(matches!(err, Some(EngineError::Overloaded { .. })));
    let ev = events(
        &engine,
        chat("[[omnivox-test:error-mid-stream]]", OutputMode::Text),
    )
    .await;
    assert!(matches!(
        ev.last(),
        Some(Event::Error(EngineError::Internal(_)))
    ));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_stream_is_seen() {
    let engine = ScriptedEngine::with_pacing(Duration::from_millis(10));
    let mut stream = engine
        .submit(chat("a b c d", OutputMode::Text))
        .await
        .expect("admitted");
    assert!(stream.next().await.is_some());
    assert_eq!(engine.live_streams(), 1);
    drop(stream);
    assert_eq!(engine.live_streams(), 0);
}
