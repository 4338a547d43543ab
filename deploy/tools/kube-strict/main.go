// kube-strict decodes rendered Kubernetes manifests with the API's own Go types (k8s.io/api), strictly:
// a field the type does not have (a typo such as `terminationGracePeriod`), a value of the wrong type,
// a duplicate field or a kind this tool does not know is an error. It is what `kubectl apply` with
// server-side field validation would refuse, without a cluster; it is not the API server's semantic
// validation (ranges, required fields, immutability).
//
//	helm template … | kube-strict        # exit 0: every document decoded; 1: errors, one per line
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

func main() {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			fmt.Fprintln(os.Stderr, "kube-strict:", err)
			os.Exit(2)
		}
	}
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Yaml: true, Strict: true})

	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	docs, failed := 0, 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("read:", err)
			os.Exit(1)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		docs++
		name := describe(doc)
		if _, _, err := strict.Decode(doc, nil, nil); err != nil {
			failed++
			fmt.Printf("%s: %v\n", name, err)
		}
	}
	fmt.Fprintf(os.Stderr, "kube-strict: %d documents, %d with errors\n", docs, failed)
	if failed > 0 || docs == 0 {
		os.Exit(1)
	}
}

// describe names a document "Kind/name" for error lines, from a lenient decode.
func describe(doc []byte) string {
	var u unstructured.Unstructured
	if err := sigsyaml.Unmarshal(doc, &u.Object); err != nil || u.Object == nil {
		return "(unparseable document)"
	}
	return fmt.Sprintf("%s/%s", u.GetKind(), u.GetName())
}

// stripComments drops whole-line YAML comments, so a document holding only helm's "# Source:" line is empty.
func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
