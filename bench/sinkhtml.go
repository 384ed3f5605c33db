package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"

	"golang.org/x/net/html"
)

// htmlText returns the text of the first text/html entity of a raw email,
// with its tags dropped and its entities decoded: what a user reads of a
// message sent without a plain-text part.
func htmlText(raw []byte) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("parse the message: %w", err)
	}
	body, ok, err := htmlPart(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errors.New("the message has neither a text/plain nor a text/html part")
	}
	return textOfHTML(body)
}

// htmlPart finds the first text/html entity in h and body and returns it
// decoded.
func htmlPart(h textproto.MIMEHeader, body io.Reader, depth int) (io.Reader, bool, error) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return nil, false, nil // no or unreadable type: not HTML
	}
	switch {
	case mt == "text/html":
		return decodeTransfer(h.Get("Content-Transfer-Encoding"), body), true, nil
	case strings.HasPrefix(mt, "multipart/") && depth < maxMIMEDepth:
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil, false, nil
			}
			if err != nil {
				return nil, false, fmt.Errorf("read a MIME part: %w", err)
			}
			if r, ok, err := htmlPart(p.Header, p, depth+1); err != nil || ok {
				return r, ok, err
			}
		}
	}
	return nil, false, nil
}

// textOfHTML returns the text nodes of an HTML document, separated by
// spaces, scripts and styles left out.
func textOfHTML(r io.Reader) (string, error) {
	z := html.NewTokenizer(r)
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF {
				return "", fmt.Errorf("read the HTML: %w", err)
			}
			return strings.Join(strings.Fields(b.String()), " "), nil
		case html.StartTagToken:
			if name, _ := z.TagName(); string(name) == "script" || string(name) == "style" {
				skip++
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); (string(name) == "script" || string(name) == "style") && skip > 0 {
				skip--
			}
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
				b.WriteByte(' ')
			}
		}
	}
}
