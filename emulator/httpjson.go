package emulator

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

const maxBodyBytes = 1 << 20

// handlerFunc answers with a status and a body to encode as JSON (nil for none), or an error. Handlers
// decode the request, call the store and return what it gave them in the API's shape; they hold no lock
// and touch no stored record.
type handlerFunc func(r *http.Request) (int, any, error)

func (s *Server) handle(mux *http.ServeMux, pattern string, h handlerFunc) {
	if mux == s.admin {
		s.adminPatterns = append(s.adminPatterns, pattern)
	} else {
		s.apiPatterns = append(s.apiPatterns, pattern)
	}
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		status, body, err := h(r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil || status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	data, err := json.Marshal(body)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "encoding response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// writeError answers with the service's {code, message} body; an error that is not an *Error is a 500.
func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errorf(http.StatusInternalServerError, "%v", err)
	}
	writeJSON(w, e.Code, e)
}

// decodeJSON reads a JSON body into v. An empty body counts as {} so that required-field checks, not the
// decoder, say what is missing. The body is read in full before any store call, so that a slow client
// never holds the store's lock.
func decodeJSON(r *http.Request, v any) error {
	body := io.Reader(r.Body)
	// The Pulumi CLI gzips some request bodies (batch-decrypt among them).
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return errorf(http.StatusBadRequest, "reading the gzip request body: %v", err)
		}
		defer func() { _ = zr.Close() }()
		body = zr
	}
	data, err := io.ReadAll(io.LimitReader(body, maxBodyBytes+1))
	if err != nil {
		return errorf(http.StatusBadRequest, "reading request body: %v", err)
	}
	if len(data) > maxBodyBytes {
		return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxBodyBytes)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		data = []byte("{}")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return errorf(http.StatusBadRequest, "invalid value for %s: expected %s", typeErr.Field, typeErr.Type)
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
