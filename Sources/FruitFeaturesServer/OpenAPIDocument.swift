/// The OpenAPI 3 description of the service, served at `GET /openapi.json` (schemathesis checks the running service
/// against it in python/tests/test_serve.py).
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.0.3",
  "info": {
    "title": "FruitFeatures recognition service",
    "version": "1",
    "description": "Names the fruit in a photo by its nearest labelled images of an extract run (fruitfeatures serve). Photos get exactly the preprocessing of fruitfeatures extract (no EXIF rotation)."
  },
  "paths": {
    "/v1/recognize": {
      "post": {
        "summary": "Recognise the fruit in a photo",
        "parameters": [
          {"name": "top", "in": "query", "required": false, "description": "Labels to return (default: the server's --top).", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
          {"name": "neighbors", "in": "query", "required": false, "description": "k: how many nearest images vote (default: the server's --neighbors).", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}
        ],
        "requestBody": {
          "required": true,
          "content": {
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
              "schema": {"type": "object", "required": ["photo"], "properties": {"photo": {"type": "string", "format": "binary"}}}
            }
          }
        },
        "responses": {
          "200": {"description": "The most likely labels and the nearest images", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Recognition"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "408": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"},
          "415": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Busy"}
        }
      }
    },
    "/v1/model": {
      "get": {
        "summary": "The run the service answers from",
        "responses": {
          "200": {"description": "The run's identity and contents", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Model"}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Busy"}
        }
      }
    },
    "/healthz": {
      "get": {
        "summary": "The process is alive",
        "responses": {"200": {"description": "Alive", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}}
      }
    },
    "/readyz": {
      "get": {
        "summary": "A model is loaded",
        "responses": {
          "200": {"description": "Ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
          "503": {"$ref": "#/components/responses/Busy"}
        }
      }
    },
    "/metrics": {
      "get": {
        "summary": "Prometheus metrics",
        "responses": {"200": {"description": "The Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}
      }
    },
    "/": {
      "get": {
        "summary": "The web page: choose or take a photo and see its labels",
        "responses": {"200": {"description": "A self-contained HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}
      }
    },
    "/openapi.json": {
      "get": {
        "summary": "This document",
        "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}
      }
    }
  },
  "components": {
    "responses": {
      "Error": {"description": "What went wrong", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Busy": {
        "description": "Not ready, busy or shutting down; try again after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      }
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
      "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
      "FeatureModel": {
        "type": "object", "required": ["architecture", "sha256"],
        "properties": {"architecture": {"type": "string"}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}
      },
      "LabelScore": {
        "type": "object", "required": ["label", "votes", "share", "nearest_distance", "nearest_path"],
        "properties": {
          "label": {"type": "string"},
          "votes": {"type": "integer", "minimum": 0},
          "share": {"type": "number", "minimum": 0, "maximum": 1},
          "nearest_distance": {"type": "number", "minimum": 0},
          "nearest_path": {"type": "string", "description": "Relative to the run's input folder"}
        }
      },
      "Neighbour": {
        "type": "object", "required": ["row", "label", "path", "distance"],
        "properties": {
          "row": {"type": "integer", "minimum": 0},
          "label": {"type": "string"},
          "path": {"type": "string", "description": "Relative to the run's input folder"},
          "distance": {"type": "number", "minimum": 0}
        }
      },
      "Recognition": {
        "type": "object", "required": ["photo", "labels", "neighbours", "model", "seconds"],
        "properties": {
          "photo": {"type": "string"},
          "labels": {"type": "array", "items": {"$ref": "#/components/schemas/LabelScore"}, "description": "Most likely first"},
          "neighbours": {"type": "array", "items": {"$ref": "#/components/schemas/Neighbour"}, "description": "Nearest first"},
          "model": {"$ref": "#/components/schemas/FeatureModel"},
          "seconds": {"type": "number", "minimum": 0}
        }
      },
      "Model": {
        "type": "object",
        "required": ["feature_model", "weights_file", "components", "rows", "labels", "explained_variance_ratio_total", "version"],
        "properties": {
          "feature_model": {"$ref": "#/components/schemas/FeatureModel"},
          "weights_file": {"type": "string"},
          "components": {"type": "integer", "minimum": 1},
          "rows": {"type": "integer", "minimum": 1},
          "labels": {
            "type": "array",
            "items": {"type": "object", "required": ["label", "count"], "properties": {"label": {"type": "string"}, "count": {"type": "integer", "minimum": 1}}}
          },
          "made": {"type": "string", "format": "date-time"},
          "explained_variance_ratio_total": {"type": "number"},
          "version": {"type": "string"}
        }
      }
    }
  }
}
"""#
}
