// Voice recording with MediaRecorder: Opus in WebM (Chromium, Firefox) or Ogg, whichever the
// browser records; the server remuxes WebM to the Ogg Opus WhatsApp plays.

const TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/ogg'];

/** The container type this browser records voice in, or null. */
export function recordingType() {
  if (typeof MediaRecorder === 'undefined') return null;
  return TYPES.find((ty) => MediaRecorder.isTypeSupported(ty)) || null;
}

/**
 * One recording: `await Recording.start(onTick)` asks for the microphone and starts; `onTick(s)`
 * gets the elapsed seconds; `stop()` resolves the Blob; `cancel()` throws it away. The microphone
 * is released either way.
 */
export class Recording {
  static async start(onTick) {
    const type = recordingType();
    if (!type) throw new Error('MediaRecorder cannot record Opus here');
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    return new Recording(stream, type, onTick);
  }

  constructor(stream, type, onTick) {
    this.stream = stream;
    this.type = type;
    this.chunks = [];
    this.started = performance.now();
    this.recorder = new MediaRecorder(stream, { mimeType: type, audioBitsPerSecond: 32000 });
    this.recorder.ondataavailable = (e) => {
      if (e.data && e.data.size) this.chunks.push(e.data);
    };
    this.recorder.start(250);
    this.timer = setInterval(() => onTick && onTick(this.elapsed()), 200);
    if (onTick) onTick(0);
  }

  elapsed() {
    return (performance.now() - this.started) / 1000;
  }

  release() {
    clearInterval(this.timer);
    for (const track of this.stream.getTracks()) track.stop();
  }

  /** Stops and answers the recording ({blob, type, seconds}). */
  stop() {
    const seconds = this.elapsed();
    return new Promise((resolve, reject) => {
      this.recorder.onstop = () => {
        this.release();
        const type = this.type.split(';')[0];
        resolve({ blob: new Blob(this.chunks, { type }), type, seconds });
      };
      this.recorder.onerror = (e) => {
        this.release();
        reject(e.error || new Error('recording failed'));
      };
      this.recorder.stop();
    });
  }

  cancel() {
    this.recorder.onstop = null;
    this.recorder.ondataavailable = null;
    if (this.recorder.state !== 'inactive') this.recorder.stop();
    this.release();
    this.chunks = [];
  }
}
