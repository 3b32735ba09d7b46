import type { ContentfulStatusCode, UnofficialStatusCode } from 'hono/utils/http-status'

/** nginx's code for a client that closed its connection before the answer: never the gateway's fault, never a 5xx. */
const CLIENT_CLOSED = 499 as UnofficialStatusCode

/**
 * Every error the gateway itself can raise: code → [HTTP status, default message].
 * The status carries the meaning (openai-node picks its exception class from it), `code` the reason.
 * Messages here are defaults; throw sites usually pass a message naming the field and the limit.
 */
export const CATALOGUE = {
  missing_api_key: [401, 'Missing API key. Send it as "Authorization: Bearer <key>".'],
  invalid_api_key: [401, 'Incorrect API key provided.'],
  permission_denied: [403, 'This key may not do that.'],
  model_not_found: [404, 'The model does not exist or you do not have access to it.'],
  not_found: [404, 'Not found.'],
  method_not_allowed: [405, 'Method not allowed.'],
  unsupported_content_type: [415, 'Content-Type must be application/json.'],
  request_too_large: [413, 'Request body is too large.'],
  invalid_json: [400, 'Request body is not valid JSON.'],
  invalid_request: [400, 'Invalid request.'],
  missing_required_parameter: [400, 'A required parameter is missing.'],
  invalid_value: [400, 'Invalid value.'],
  text_before_image: [400, 'Text comes before an image in a message; this model needs images first.'],
  invalid_image_data: [400, 'Image data URL is invalid.'],
  invalid_image_url: [400, 'Image URL is not a valid URL.'],
  image_url_forbidden: [400, 'Image URL is not allowed.'],
  image_fetch_failed: [400, 'Image could not be downloaded.'],
  image_fetch_timeout: [400, 'Timed out downloading the image.'],
  image_too_large: [413, 'Image is too large.'],
  image_unsupported_format: [400, 'Image format is not supported.'],
  image_dimensions_out_of_range: [400, 'Image dimensions are out of range.'],
  too_many_images: [400, 'Too many images in the request.'],
  context_length_exceeded: [400, "The request does not fit the model's context window."],
  images_busy: [503, 'The gateway is holding too many image bytes; retry shortly.'],
  budget_exceeded: [429, 'A budget of this key is used up for now.'],
  budget_unavailable: [503, 'Budgets cannot be checked right now; retry shortly.'],
  upstream_unreachable: [502, 'The upstream model server could not be reached.'],
  upstream_auth_failed: [502, "The upstream model server refused the gateway's credential."],
  upstream_timeout: [504, 'The upstream model server did not answer in time.'],
  upstream_bad_response: [502, 'The upstream model server sent a response the gateway could not read.'],
  upstream_stream_interrupted: [502, 'The upstream stream ended before it was complete.'],
  shutting_down: [503, 'The gateway is shutting down; retry on another instance.'],
  config_invalid: [422, 'The config file is invalid; the running config is unchanged.'],
  overloaded: [503, 'The gateway is handling as many requests as it allows; retry shortly.'],
  client_closed_request: [CLIENT_CLOSED, 'The client closed the connection before the answer was complete.'],
  internal: [500, 'Internal error.'],
} as const satisfies Record<string, readonly [ContentfulStatusCode, string]>

export type ErrorCode = keyof typeof CATALOGUE
