// The Node.js clients of the end-to-end suite: `node clients.mjs <scenario>` runs one scenario
// against the gateway at BASE_URL (Envoy's listener, no /v1) and prints what the client saw as
// one JSON line. wasm-tests/e2e/test_node_clients.py runs each and asserts on the result and
// on what reached the simulator.
import { createOpenAI } from '@ai-sdk/openai';
import { embedMany, generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';

const baseURL = `${process.env.BASE_URL}/v1`;
const apiKey = 'sk-node-caller-key-never-upstream';
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
const provider = createOpenAI({ baseURL, apiKey });

const weather = {
  type: 'function',
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: false,
};

const weatherTool = tool({
  description: 'Weather for a city',
  inputSchema: jsonSchema({
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
  }),
  execute: async ({ city }) => `18°C and sunny in ${city}`,
});

const scenarios = {
  // openai-node, Responses API, one answer.
  async 'openai-responses'() {
    const r = await client.responses.create({
      model: 'claude', instructions: 'Be brief.', input: 'hello from node', store: false,
    });
    return { id: r.id, status: r.status, text: r.output_text, usage: r.usage };
  },

  // openai-node, Responses API streamed through its event accumulator.
  async 'openai-responses-stream'() {
    const stream = client.responses.stream({ model: 'claude', input: 'stream from node' });
    const events = [];
    for await (const event of stream) events.push(event.type);
    const final = await stream.finalResponse();
    return { events, text: final.output_text, status: final.status, usage: final.usage };
  },

  // openai-node, Responses API: a function call, then its output sent back.
  async 'openai-responses-tools'() {
    const input = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await client.responses.create({ model: 'claude', input, tools: [weather] });
    const call = first.output.find((i) => i.type === 'function_call');
    input.push(...first.output);
    input.push({ type: 'function_call_output', call_id: call.call_id, output: '18°C' });
    const second = await client.responses.create({ model: 'claude', input, tools: [weather] });
    return { call: { name: call.name, call_id: call.call_id, arguments: call.arguments },
      text: second.output_text };
  },

  // openai-node: a refused parameter surfaces as the SDK's BadRequestError.
  async 'openai-responses-refused'() {
    try {
      await client.responses.create({ model: 'claude', input: 'x', previous_response_id: 'resp_1' });
      return { error: null };
    } catch (e) {
      return { error: { status: e.status, name: e.constructor.name, param: e.param, message: e.message } };
    }
  },

  // openai-node, chat completions streamed.
  async 'openai-chat-stream'() {
    const stream = await client.chat.completions.create({
      model: 'claude', stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'chat from node' }],
    });
    let text = '';
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    return { text, usage };
  },

  // openai-node: several inputs to Titan, which embeds one per call.
  async 'openai-embeddings-batch'() {
    const r = await client.embeddings.create({ model: 'embed', input: ['one', 'two words', 'three more words'] });
    return { indexes: r.data.map((d) => d.index), dims: r.data.map((d) => d.embedding.length), usage: r.usage };
  },

  // Vercel AI SDK: `openai(model)` speaks the Responses API.
  async 'ai-generate'() {
    const r = await generateText({ model: provider('claude'), system: 'Be brief.', prompt: 'hello vercel' });
    return { text: r.text, finishReason: r.finishReason, usage: r.usage };
  },

  // Vercel AI SDK: a streamed Responses answer.
  async 'ai-stream'() {
    const r = streamText({ model: provider('claude'), prompt: 'stream vercel' });
    let text = '';
    for await (const delta of r.textStream) text += delta;
    return { text, finishReason: await r.finishReason, usage: await r.usage };
  },

  // Vercel AI SDK: a tool loop over the Responses API (the SDK runs the tool, sends its result).
  async 'ai-tools'() {
    const r = await generateText({
      model: provider('claude'), prompt: 'Weather in Paris?',
      tools: { get_weather: weatherTool }, stopWhen: stepCountIs(3),
    });
    return { text: r.text, steps: r.steps.length,
      toolResults: r.steps.flatMap((s) => s.toolResults.map((t) => t.output)) };
  },

  // Vercel AI SDK: a tool loop whose first step says something before its call. With the
  // default `store` the SDK sends that text back as a reference to a stored item, which the
  // gateway refuses with a hint; with `store: false` it sends the text itself.
  async 'ai-tools-text'() {
    const loop = (providerOptions) => generateText({
      model: provider('claude'), prompt: 'Weather in Rome?',
      tools: { get_weather: weatherTool }, stopWhen: stepCountIs(3), providerOptions,
    });
    let stored;
    try {
      await loop(undefined);
      stored = 'no error';
    } catch (e) {
      stored = String(e?.message ?? e);
    }
    const r = await loop({ openai: { store: false } });
    return { stored, text: r.text, steps: r.steps.length };
  },

  // Vercel AI SDK: a tool loop on a Claude that thinks, with reasoning asked for; the SDK
  // sends reasoning back as it chooses.
  async 'ai-tools-reasoning'() {
    const r = await generateText({
      model: provider('claude-sonnet-4-5-20250929'), prompt: 'Weather in Oslo?',
      tools: { get_weather: weatherTool }, stopWhen: stepCountIs(3),
      // The SDK sends reasoning only for model IDs it knows as OpenAI reasoning models.
      providerOptions: { openai: { forceReasoning: true, reasoningEffort: 'low', store: false } },
    });
    return { text: r.text, steps: r.steps.length, finishReason: r.finishReason };
  },

  // Vercel AI SDK, chat completions provider.
  async 'ai-chat'() {
    const r = await generateText({ model: provider.chat('claude'), prompt: 'hello chat provider' });
    return { text: r.text, usage: r.usage };
  },

  // Vercel AI SDK: embedMany on Titan.
  async 'ai-embed-many'() {
    const r = await embedMany({ model: provider.embedding('embed'), values: ['alpha', 'beta gamma', 'delta'] });
    return { count: r.embeddings.length, dims: r.embeddings.map((e) => e.length), usage: r.usage };
  },
};

const name = process.argv[2];
const run = scenarios[name];
if (!run) {
  console.error(`unknown scenario ${name}; one of: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await run()));
} catch (e) {
  console.log(JSON.stringify({ thrown: { name: e?.constructor?.name, message: String(e?.message ?? e) } }));
  process.exit(1);
}
