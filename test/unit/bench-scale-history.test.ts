import { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { analyzeHistory, percentile, type HistoryEvent } from '../../bench/lib/scale-history';

const T = temporal.api.enums.v1.EventType;

/** A history written event by event, each at a given millisecond. */
function history(): { events: HistoryEvent[]; add(type: number, ms: number, attrs?: object): number } {
  const events: HistoryEvent[] = [];
  return {
    events,
    add(type, ms, attrs = {}) {
      const eventId = events.length + 1;
      // Plain numbers where the protobuf types say Long: the SDK decodes small ids and times to either.
      events.push({
        eventId,
        eventType: type,
        eventTime: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
        ...attrs,
      } as unknown as HistoryEvent);
      return eventId;
    },
  };
}

/** Workflow task scheduled, started (after `queue` ms) and completed (after `run` ms); returns the completed id. */
function workflowTask(h: ReturnType<typeof history>, at: number, queue: number, run: number): number {
  const scheduled = h.add(T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, at);
  const started = h.add(T.EVENT_TYPE_WORKFLOW_TASK_STARTED, at + queue, {
    workflowTaskStartedEventAttributes: { scheduledEventId: scheduled },
  });
  return h.add(T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, at + queue + run, {
    workflowTaskCompletedEventAttributes: { scheduledEventId: scheduled, startedEventId: started },
  });
}

function activity(h: ReturnType<typeof history>, name: string, decidedBy: number, at: number): number {
  return h.add(T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, at, {
    activityTaskScheduledEventAttributes: { activityType: { name }, workflowTaskCompletedEventId: decidedBy },
  });
}

function finish(h: ReturnType<typeof history>, scheduled: number, startMs: number, endMs: number): void {
  h.add(T.EVENT_TYPE_ACTIVITY_TASK_STARTED, startMs, {
    activityTaskStartedEventAttributes: { scheduledEventId: scheduled },
  });
  h.add(T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, endMs, {
    activityTaskCompletedEventAttributes: { scheduledEventId: scheduled },
  });
}

describe('scale benchmark: reading a history', () => {
  it('splits each step boundary into the deciding workflow task and the activity dispatch', () => {
    const h = history();
    h.add(T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 1_000);
    let wft = workflowTask(h, 1_000, 5, 10); // completes at 1015
    const a = activity(h, 'first', wft, 1_015);
    finish(h, a, 1_017, 1_117);
    wft = workflowTask(h, 1_120, 4, 6); // 3 ms react, completes at 1130
    const b = activity(h, 'second', wft, 1_130);
    finish(h, b, 1_131, 1_500);
    wft = workflowTask(h, 1_500, 2, 3);
    h.add(T.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, 1_505, {
      workflowExecutionCompletedEventAttributes: { workflowTaskCompletedEventId: wft },
    });

    const r = analyzeHistory(h.events);
    expect(r.endToEndMs).toBe(505);
    expect(r.gaps.map((g) => `${g.after}→${g.before}`)).toEqual([
      'start→first',
      'first→second',
      'second→close',
    ]);
    const [, middle, close] = r.gaps;
    expect(middle).toMatchObject({
      totalMs: 14,
      decideMs: 13,
      dispatchMs: 1,
      reactMs: 3,
      queueMs: 4,
      runMs: 6,
    });
    expect(close).toMatchObject({ totalMs: 5, dispatchMs: 0, queueMs: 2, runMs: 3 });
    expect(r.activityRunMs).toEqual([
      { name: 'first', ms: 100 },
      { name: 'second', ms: 369 },
    ]);
    expect(r.activityScheduleToStartMs).toEqual([2, 1]);
    expect(r.workflowTaskScheduleToStartMs).toEqual([5, 4, 2]);
    expect(r.waits).toBe(0);
  });

  it('leaves out a boundary where the workflow waited on purpose (a timer), and an activity started beside another', () => {
    const h = history();
    h.add(T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 0);
    let wft = workflowTask(h, 0, 1, 1);
    const one = activity(h, 'fetch', wft, 2);
    const two = activity(h, 'fetch', wft, 2);
    finish(h, one, 2, 50);
    finish(h, two, 2, 60);
    wft = workflowTask(h, 60, 1, 1);
    h.add(T.EVENT_TYPE_TIMER_STARTED, 62);
    h.add(T.EVENT_TYPE_TIMER_FIRED, 1_062);
    wft = workflowTask(h, 1_062, 1, 1);
    const after = activity(h, 'record', wft, 1_064);
    finish(h, after, 1_064, 1_100);

    const r = analyzeHistory(h.events);
    // The second fetch ran beside the first: one boundary, from the start. The timer's is a wait.
    expect(r.gaps).toHaveLength(1);
    expect(r.gaps[0]).toMatchObject({ after: 'start', before: 'fetch', totalMs: 2 });
    expect(r.waits).toBe(1);
    expect(r.endToEndMs).toBeUndefined();
    expect(r.eventsByType['TIMER_FIRED']).toBe(1);
  });

  it('percentiles interpolate and are NaN for no values', () => {
    expect(percentile([], 0.5)).toBeNaN();
    expect(percentile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(percentile([10], 0.95)).toBe(10);
  });
});
