#include "serve/inference_api.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "serve/datatype.h"
#include "serve/infer_request.h"
#include "serve/infer_response.h"

namespace edgerun::serve {
namespace {

using nlohmann::json;

HttpResponse json_response(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse error_response(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = error_json(message);
  return r;
}

HttpResponse empty_ok() {
  HttpResponse r;
  r.status = 200;
  return r;
}

std::vector<std::string> split_path(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) parts.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return parts;
}

std::optional<int64_t> parse_version(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoll(s);
}

json tensor_metadata(const TensorSpec& t) {
  return json{{"name", t.name}, {"datatype", protocol_datatype(t.dtype)}, {"shape", t.has_shape ? t.shape : std::vector<int64_t>{}}};
}

double micros_since(Clock::time_point t) { return std::chrono::duration<double, std::micro>(Clock::now() - t).count(); }

}  // namespace

InferenceApi::InferenceApi(ModelRepository& repository, MetricsRegistry& metrics, ApiOptions options)
    : repository_(repository),
      metrics_(metrics),
      options_(options),
      parse_(std::max(1, options.parse_threads)),
      control_(1) {}

InferenceApi::~InferenceApi() { stop(); }

void InferenceApi::stop() {
  parse_.stop();
  control_.stop();
}

void InferenceApi::handle(HttpRequest&& request, Responder respond) {
  const std::vector<std::string> p = split_path(request.target);
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  const auto method_not_allowed = [&] { respond(error_response(405, "method " + request.method + " not allowed on " + request.target)); };
  try {
    if (p.size() == 1 && p[0] == "metrics") {
      if (!get) return method_not_allowed();
      HttpResponse r;
      r.body = metrics_.render();
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      return respond(std::move(r));
    }
    if (p.empty() || p[0] != "v2") return respond(error_response(404, "no such endpoint: " + request.target));
    if (p.size() == 1) {
      if (!get) return method_not_allowed();
      return respond(json_response(200, {{"name", "edgerun"},
                                         {"version", "0.1.0"},
                                         {"extensions", {"binary_tensor_data", "model_repository"}}}));
    }
    if (p[1] == "health" && p.size() == 3) {
      if (!get) return method_not_allowed();
      if (p[2] == "live") return respond(empty_ok());
      if (p[2] == "ready") {
        if (started_.load() && repository_.all_ready()) return respond(empty_ok());
        return respond(error_response(503, started_.load() ? "a model failed to load" : "the server is starting"));
      }
    }
    if (p[1] == "repository") {
      if (!post) return method_not_allowed();
      if (p.size() == 3 && p[2] == "index") {
        bool ready_only = false;
        if (!request.body.empty()) {
          const json body = json::parse(request.body, nullptr, false);
          if (body.is_discarded() || !body.is_object()) return respond(error_response(400, "index request body must be a JSON object"));
          if (body.contains("ready")) {
            if (!body["ready"].is_boolean()) return respond(error_response(400, "ready must be true or false"));
            ready_only = body["ready"].get<bool>();
          }
        }
        json list = json::array();
        for (const auto& e : repository_.index(ready_only)) {
          json item = {{"name", e.name}, {"state", e.state}, {"reason", e.reason}};
          if (!e.version.empty()) item["version"] = e.version;
          list.push_back(std::move(item));
        }
        return respond(json_response(200, list));
      }
      if (p.size() == 5 && p[2] == "models" && (p[4] == "load" || p[4] == "unload")) {
        const std::string model = p[3];
        const bool load = p[4] == "load";
        if (!ModelRepository::valid_model_name(model)) return respond(error_response(400, "invalid model name '" + model + "'"));
        // Loading takes seconds: run it off the I/O threads, and answer when it is done.
        control_.post([this, model, load, respond] {
          try {
            if (load)
              repository_.load(model);
            else
              repository_.unload(model);
            respond(empty_ok());
          } catch (const RepositoryError& e) {
            respond(error_response(e.status(), e.what()));
          } catch (const std::exception& e) {
            respond(error_response(500, e.what()));
          }
        });
        return;
      }
    }
    if (p[1] == "models" && p.size() >= 3) {
      const std::string& model = p[2];
      std::optional<int64_t> version;
      size_t rest = 3;
      if (p.size() >= 5 && p[3] == "versions") {
        version = parse_version(p[4]);
        if (!version) return respond(error_response(400, "invalid model version '" + p[4] + "'"));
        rest = 5;
      }
      if (p.size() == rest) {
        if (!get) return method_not_allowed();
        const auto v = repository_.find(model, version);
        json versions = json::array();
        for (const auto& r : repository_.ready_versions(model)) versions.push_back(r->version_text);
        json inputs = json::array(), outputs = json::array();
        for (const auto& t : v->signature.inputs) inputs.push_back(tensor_metadata(t));
        for (const auto& t : v->signature.outputs) outputs.push_back(tensor_metadata(t));
        return respond(json_response(200, {{"name", model},
                                           {"versions", versions},
                                           {"platform", "onnx"},
                                           {"inputs", inputs},
                                           {"outputs", outputs}}));
      }
      if (p.size() == rest + 1 && p[rest] == "ready") {
        if (!get) return method_not_allowed();
        repository_.find(model, version);  // throws 404 / 503
        return respond(empty_ok());
      }
      if (p.size() == rest + 1 && p[rest] == "infer") {
        if (!post) return method_not_allowed();
        // Parsing a large JSON body takes a while: not on the I/O thread.
        auto shared = std::make_shared<HttpRequest>(std::move(request));
        parse_.post([this, shared, model, version, respond] {
          try {
            infer(*shared, model, version, respond);
          } catch (const RepositoryError& e) {
            respond(error_response(e.status(), e.what()));
          } catch (const std::exception& e) {
            respond(error_response(500, e.what()));
          }
        });
        return;
      }
    }
    return respond(error_response(404, "no such endpoint: " + request.target));
  } catch (const RepositoryError& e) {
    return respond(error_response(e.status(), e.what()));
  } catch (const RequestError& e) {
    return respond(error_response(e.status(), e.what()));
  } catch (const std::exception& e) {
    return respond(error_response(500, e.what()));
  }
}

void InferenceApi::infer(HttpRequest& request, const std::string& model, std::optional<int64_t> version,
                         const Responder& respond) {
  const auto start = Clock::now();
  const std::shared_ptr<const ServedVersion> v = repository_.find(model, version);  // 404 / 503
  auto request_info = std::make_shared<InferRequest>();
  InferJob job;
  try {
    std::optional<size_t> header_length;
    if (request.inference_header_length) header_length = parse_header_length(*request.inference_header_length);
    InferRequest parsed = parse_infer_request(request.body, header_length, v->signature);
    job.inputs = std::move(parsed.inputs);
    job.batch_size = parsed.batch_size;
    *request_info = std::move(parsed);
  } catch (const RequestError& e) {
    v->metrics->request_failure.fetch_add(1);
    return respond(error_response(e.status(), e.what()));
  } catch (const Error& e) {
    v->metrics->request_failure.fetch_add(1);
    return respond(error_response(e.code() == ErrorCode::kInvalidArgument ? 400 : 500, e.what()));
  }
  request.body.clear();
  request.body.shrink_to_fit();
  int64_t timeout_us = request_info->timeout_us;
  if (timeout_us == 0) timeout_us = v->config.dynamic_batching.default_timeout_us;
  if (timeout_us == 0) timeout_us = options_.default_timeout_us;
  if (timeout_us > 0) job.deadline = start + std::chrono::microseconds(std::min<int64_t>(timeout_us, int64_t{1} << 40));
  v->metrics->pending_requests.fetch_add(1);
  // The job holds the version: the request finishes on it even if a reload swaps it out meanwhile.
  job.done = [v, request_info, respond, start](InferOutcome&& out) {
    HttpResponse resp;
    if (out.status == 200) {
      try {
        EncodedResponse enc = encode_infer_response(v->model_name, v->version_text, *request_info, v->signature, out.outputs);
        resp.body = std::move(enc.body);
        if (enc.has_binary) {
          resp.content_type = "application/octet-stream";
          resp.headers.emplace_back("Inference-Header-Content-Length", std::to_string(enc.json_length));
        }
      } catch (const std::exception& e) {
        resp = error_response(500, e.what());
      }
    } else {
      resp = error_response(out.status, out.error);
    }
    const double us = micros_since(start);
    auto& m = *v->metrics;
    (resp.status == 200 ? m.request_success : m.request_failure).fetch_add(1);
    if (resp.status == 200) {
      m.request_duration_us.fetch_add(static_cast<uint64_t>(us));
      m.request_hist.observe_us(us);
    }
    m.pending_requests.fetch_sub(1);
    respond(std::move(resp));
  };
  if (!v->batcher->submit(job)) {
    v->metrics->pending_requests.fetch_sub(1);
    v->metrics->request_failure.fetch_add(1);
    return respond(error_response(503, "model '" + model + "' version " + v->version_text +
                                           ": the request queue is full, try again later"));
  }
}

}  // namespace edgerun::serve
