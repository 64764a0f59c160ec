// Command bootstrap is a test runtime for Hearth's `runtime = "provided"`: a Lambda Runtime API 2018-06-01 client
// written from the documented protocol with the standard library only (no aws-lambda-go), so the platform is
// checked against the wire contract rather than against one SDK's habits.
//
// The event picks the behaviour: {"action": "error" | "exit" | "sleep" | "chunked" | "big"}; anything else echoes.
// FAIL_INIT=1 in the environment reports an init error instead of polling.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	errorTypeHeader = "Lambda-Runtime-Function-Error-Type"
	userAgent       = "hearth-test-go-bootstrap/1"
	// exitProtocol is the exit status when the Runtime API answers with an unexpected status or cannot be reached.
	exitProtocol = 2
)

type invocation struct {
	requestID string
	header    http.Header
	event     []byte
}

type command struct {
	Action string `json:"action"`
	Ms     int    `json:"ms"`
	Bytes  int    `json:"bytes"`
}

type runtimeAPI struct {
	base   string
	client *http.Client
}

// hold keeps what the alloc action allocated reachable, so the memory stays in use.
var hold []byte

func main() {
	address := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if address == "" {
		fail("AWS_LAMBDA_RUNTIME_API is not set")
	}
	// One client, so the connection is kept alive across /next and the posts; no timeout, since /next long-polls.
	api := &runtimeAPI{
		base:   "http://" + address + "/2018-06-01/runtime",
		client: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}},
	}
	if os.Getenv("FAIL_INIT") == "1" {
		api.post("/init/error", "Runtime.GoInitError",
			jsonBody(map[string]string{"errorMessage": "init failed on purpose", "errorType": "Runtime.GoInitError"}))
		fmt.Fprintln(os.Stderr, "go init failed on purpose")
		os.Exit(1)
	}
	for served := 1; ; served++ {
		api.handle(api.next(), served)
	}
}

func (api *runtimeAPI) handle(inv invocation, served int) {
	var cmd command
	_ = json.Unmarshal(inv.event, &cmd) // a non-object event simply has no action
	fmt.Fprintf(os.Stderr, "go stderr %s action=%q\n", inv.requestID, cmd.Action)
	respond := "/invocation/" + inv.requestID + "/response"
	switch cmd.Action {
	case "error":
		api.post("/invocation/"+inv.requestID+"/error", "Handled.GoError",
			jsonBody(map[string]string{"errorMessage": "go failed on purpose", "errorType": "GoError"}))
		return
	case "exit":
		fmt.Fprintf(os.Stderr, "go exiting mid-invocation %s\n", inv.requestID)
		os.Exit(3)
	case "alloc":
		hold = make([]byte, cmd.Ms<<20) // Ms counts mebibytes here
		for i := 0; i < len(hold); i += 4096 { // a byte per page puts every page in use, at a fraction of the CPU
			hold[i] = byte(i)
		}
	case "sleep":
		time.Sleep(time.Duration(cmd.Ms) * time.Millisecond)
	}
	// A handler's output comes before its result: Hearth closes an invocation's log when the result arrives, so
	// what a runtime writes after posting it lands in the next invocation.
	fmt.Printf("go handled %s\n", inv.requestID)
	switch cmd.Action {
	case "chunked":
		api.postChunked(respond, cmd.Bytes)
	case "big":
		api.post(respond, "", bigBody(cmd.Bytes))
	default:
		api.post(respond, "", jsonBody(echo(inv, served)))
	}
}

func echo(inv invocation, served int) map[string]interface{} {
	var event interface{} = json.RawMessage(inv.event)
	if !json.Valid(inv.event) {
		event = string(inv.event)
	}
	var deadline interface{} // null when the header is missing or not a number
	if ms, err := strconv.ParseInt(inv.header.Get("Lambda-Runtime-Deadline-Ms"), 10, 64); err == nil {
		deadline = ms
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "error: " + err.Error()
	}
	return map[string]interface{}{
		"echo":        event,
		"function":    os.Getenv("AWS_LAMBDA_FUNCTION_NAME"),
		"version":     os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"),
		"memory":      os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
		"request_id":  inv.requestID,
		"deadline_ms": deadline,
		"arn":         inv.header.Get("Lambda-Runtime-Invoked-Function-Arn"),
		"trace_id":    inv.header.Get("Lambda-Runtime-Trace-Id"),
		"handler":     os.Getenv("_HANDLER"),
		"log_stream":  os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME"),
		"region":      os.Getenv("AWS_REGION"),
		"task_root":   os.Getenv("LAMBDA_TASK_ROOT"),
		"cwd":         cwd,
		"invocations": served,
		"pid":         os.Getpid(),
	}
}

// bigBody is a JSON string of exactly n bytes, quotes included.
func bigBody(n int) []byte {
	if n < 2 {
		n = 2
	}
	body := bytes.Repeat([]byte("x"), n)
	body[0], body[n-1] = '"', '"'
	return body
}

func (api *runtimeAPI) next() invocation {
	req, err := http.NewRequest(http.MethodGet, api.base+"/invocation/next", nil)
	if err != nil {
		fail("building /next: %v", err)
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := api.client.Do(req)
	if err != nil {
		fail("GET /next: %v", err)
	}
	event, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		fail("reading /next body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		fail("GET /next: unexpected status %d: %s", resp.StatusCode, event)
	}
	id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	if id == "" {
		fail("GET /next: no Lambda-Runtime-Aws-Request-Id header")
	}
	return invocation{requestID: id, header: resp.Header, event: event}
}

// post sends body with a Content-Length; errorType, when set, goes in Lambda-Runtime-Function-Error-Type.
func (api *runtimeAPI) post(path, errorType string, body []byte) {
	req, err := http.NewRequest(http.MethodPost, api.base+path, bytes.NewReader(body))
	if err != nil {
		fail("building POST %s: %v", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if errorType != "" {
		req.Header.Set(errorTypeHeader, errorType)
	}
	api.send(req, path)
}

// postChunked streams {"chunked": true, "size": N, "pad": "<N bytes>"} through a pipe, so the request goes out with
// Transfer-Encoding: chunked, and ends it with an X-Checksum trailer (hex SHA-256 of the body).
func (api *runtimeAPI) postChunked(path string, padBytes int) {
	if padBytes <= 0 {
		padBytes = 200 * 1024
	}
	reader, writer := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, api.base+path, reader)
	if err != nil {
		fail("building POST %s: %v", path, err)
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Trailer = http.Header{"X-Checksum": nil}
	go func() {
		digest := sha256.New()
		out := io.MultiWriter(writer, digest)
		fmt.Fprintf(out, `{"chunked": true, "size": %d, "pad": "`, padBytes)
		chunk := strings.Repeat("p", 8*1024)
		for left := padBytes; left > 0; left -= len(chunk) {
			if left < len(chunk) {
				chunk = chunk[:left]
			}
			if _, err := io.WriteString(out, chunk); err != nil {
				return // the request failed; send reports it
			}
		}
		io.WriteString(out, `"}`)
		// Trailer values may be set until the body returns EOF, which Close causes.
		req.Trailer.Set("X-Checksum", hex.EncodeToString(digest.Sum(nil)))
		writer.Close()
	}()
	api.send(req, path)
}

func (api *runtimeAPI) send(req *http.Request, path string) {
	req.Header.Set("User-Agent", userAgent)
	resp, err := api.client.Do(req)
	if err != nil {
		fail("POST %s: %v", path, err)
	}
	answer, _ := io.ReadAll(resp.Body) // drained so the connection is reused
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		fail("POST %s: unexpected status %d: %s", path, resp.StatusCode, answer)
	}
}

func jsonBody(value interface{}) []byte {
	body, err := json.Marshal(value)
	if err != nil {
		fail("encoding a response: %v", err)
	}
	return body
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go bootstrap: "+format+"\n", args...)
	os.Exit(exitProtocol)
}
