"""Error answers of the fake KFP API server, shaped like the KFP 2.17 backend's.

How the real server builds them (KFP 2.17.0, read and checked against its REST handling):

* ``backend/src/common/util/error.go``: every deliberate error is a ``UserError`` with an
  *internal* message (a chain: each ``Wrap`` prepends ``"<context>: "``) and an *external*
  message and gRPC code. ``GRPCStatus()`` sends the **internal chain** as the status message
  and the external ``{code, message}`` as a ``google.rpc.Status`` detail.
  ``NewInternalServerError`` turns any error into code 13 with the external message
  "Internal Server Error", so user errors wrapped by it (an unknown pipeline version, an
  empty run name, an invalid pipeline spec) answer **500**; only their inner markers
  ("ResourceNotFoundError: ", "Invalid input error: ", "InvalidInputError: ") tell what
  went wrong. ``ToGRPCError`` sends a plain Go error as ``"Internal error: %+v"``, which
  holds a Go stack trace.
* grpc-gateway writes ``{"code", "message", "details": [{"@type": ...google.rpc.Status, ...}]}``
  with the HTTP status of the code (``runtime.HTTPStatusFromCode``); there is no ``"error"``
  key.
* ``backend/src/apiserver/server/pipeline_upload_server.go`` (``writeErrorToResponse``): the
  multipart upload routes answer ``{"error_message", "error_details"}``, the details being
  ``fmt.Sprintf("%+v", err)`` of a ``github.com/pkg/errors`` error: message plus stack trace.
"""

from __future__ import annotations

from typing import Any

# grpc-gateway's runtime.HTTPStatusFromCode, for the codes the backend uses.
HTTP_OF_CODE = {2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 12: 501,
                13: 500, 14: 503, 16: 401}
CODE_OF_HTTP = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 429: 8, 500: 13, 501: 12,
                503: 14, 504: 4}
STATUS_TYPE = "type.googleapis.com/google.rpc.Status"

# What %+v of a github.com/pkg/errors error looks like: the message, then frames.
GO_STACK = (
    "\ngithub.com/kubeflow/pipelines/backend/src/apiserver/server.(*PipelineUploadServer)"
    ".uploadPipeline\n\t/go/src/github.com/kubeflow/pipelines/backend/src/apiserver/server/"
    "pipeline_upload_server.go:187\nnet/http.HandlerFunc.ServeHTTP\n\t/usr/local/go/src/net/"
    "http/server.go:2294\nruntime.goexit\n\t/usr/local/go/src/runtime/asm_amd64.s:1700"
)


class ApiError(Exception):
    """An error answer: gRPC ``code``, the ``internal`` chain and the ``external`` message.

    ``upload`` gives the multipart upload routes' body; ``go_error`` a plain Go error as
    ``ToGRPCError`` sends it (code 13, "Internal error: ..." plus a stack trace).
    """

    def __init__(self, code: int, internal: str, external: str | None = None, *,
                 upload: bool = False, go_error: bool = False, status: int | None = None):
        super().__init__(internal)
        self.code, self.internal = code, internal
        self.external = internal if external is None else external
        self.upload, self.go_error = upload, go_error
        self.status = status or HTTP_OF_CODE.get(code, 500)

    def wrap(self, context: str) -> ApiError:
        """``util.Wrap``: the chain grows, the code and external message stay."""
        return ApiError(self.code, f"{context}: {self.internal}", self.external,
                        upload=self.upload, go_error=self.go_error, status=self.status)

    def body(self) -> dict[str, Any]:
        if self.upload:
            return {"error_message": self.internal, "error_details": self.internal + GO_STACK}
        if self.go_error:
            text = f"Internal error: {self.internal}{GO_STACK}"
            return {"code": 13, "message": text,
                    "details": [{"@type": STATUS_TYPE, "code": 2, "message": text}]}
        return {"code": self.code, "message": self.internal,
                "details": [{"@type": STATUS_TYPE, "code": self.code, "message": self.external}]}


def invalid_input(message: str) -> ApiError:
    """``util.NewInvalidInputError``: code 3 (400)."""
    return ApiError(3, f"Invalid input error: {message}", message)


def invalid_input_with_details(cause: str, external: str) -> ApiError:
    """``util.NewInvalidInputErrorWithDetails``: code 3, the cause after the message."""
    return ApiError(3, f"InvalidInputError: {external}: {cause}", external)


def not_found(resource: str, name: str) -> ApiError:
    """``util.NewResourceNotFoundError``: code 5 (404)."""
    return ApiError(5, f"ResourceNotFoundError: {resource} {name} not found",
                    f"{resource} {name} not found")


def already_exists(message: str) -> ApiError:
    """``util.NewAlreadyExistError``: code 6 (409)."""
    return ApiError(6, f"Already exist error: {message}", message)


def internal(cause: ApiError, message: str) -> ApiError:
    """``util.NewInternalServerError``: whatever the cause, code 13 (500)."""
    return ApiError(13, f"InternalServerError: {message}: {cause.internal}",
                    "Internal Server Error")


def upload_error(status: int, message: str) -> ApiError:
    """An upload route's ``writeErrorToResponse(w, status, errors.New(message))``."""
    return ApiError(CODE_OF_HTTP.get(status, 2), message, upload=True, status=status)
