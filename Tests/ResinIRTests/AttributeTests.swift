import Testing
@testable import ResinIR

@Suite struct AttributeTests {
    @Test func wrongAttributeTypeNamesExpectedAndFound() {
        #expect(throws: AttributeProblem.wrongType(attribute: "strides", expected: "INTS", found: "FLOAT")) {
            try Operator(opType: "Conv", domain: "", attributes: [Attribute(name: "strides", value: .float(2))], opset: 13)
        }
        #expect(throws: AttributeProblem.wrongType(attribute: "group", expected: "INT", found: "STRING")) {
            try Operator(opType: "Conv", domain: "", attributes: [Attribute(name: "group", value: .string(Array("2".utf8)))], opset: 13)
        }
    }

    @Test func softmaxAxisDefaultDependsOnTheOpset() throws {
        #expect(try Operator(opType: "Softmax", domain: "", attributes: [], opset: 11) == .softmax(SoftmaxAttributes(axis: 1, coercesTo2D: true)))
        #expect(try Operator(opType: "Softmax", domain: "", attributes: [], opset: 13) == .softmax(SoftmaxAttributes(axis: -1, coercesTo2D: false)))
    }

    @Test func clipBoundsAreAttributesBeforeOpset11() throws {
        let old = try Operator(opType: "Clip", domain: "", attributes: [Attribute(name: "max", value: .float(6))], opset: 6)
        #expect(old == .clip(ClipAttributes(min: -Float.greatestFiniteMagnitude, max: 6)))
        #expect(try Operator(opType: "Clip", domain: "", attributes: [], opset: 13) == .clip(ClipAttributes()))
    }

    @Test func specDefaults() throws {
        #expect(try Operator(opType: "LeakyRelu", domain: "", attributes: [], opset: 13) == .leakyRelu(LeakyReluAttributes(alpha: 0.01)))
        #expect(try Operator(opType: "Gemm", domain: "", attributes: [], opset: 13) == .gemm(GemmAttributes(alpha: 1, beta: 1, transA: false, transB: false)))
        #expect(try Operator(opType: "BatchNormalization", domain: "", attributes: [], opset: 15) == .batchNormalization(BatchNormalizationAttributes(epsilon: 1e-5)))
        #expect(try Operator(opType: "Flatten", domain: "", attributes: [], opset: 13) == .flatten(FlattenAttributes(axis: 1)))
    }

    @Test func requiredAttributesAreEnforced() {
        #expect(throws: AttributeProblem.invalid(attribute: "kernel_shape", reason: "is required")) {
            try Operator(opType: "MaxPool", domain: "", attributes: [], opset: 13)
        }
        #expect(throws: AttributeProblem.invalid(attribute: "axis", reason: "is required")) {
            try Operator(opType: "Concat", domain: "", attributes: [], opset: 13)
        }
    }

    @Test func oldOpsetsKeepTheirAttributeForms() throws {
        // Reshape-1 takes its target as an attribute; Concat before opset 4 defaults the axis to 1.
        let reshape = try Operator(opType: "Reshape", domain: "", attributes: [Attribute(name: "shape", value: .ints([1, -1]))], opset: 4)
        #expect(reshape == .reshape(ReshapeAttributes(shape: [1, -1])))
        #expect(reshape.inputArity == (1, 1))
        #expect(try Operator(opType: "Concat", domain: "", attributes: [], opset: 3) == .concat(ConcatAttributes(axis: 1)))
        let graph = Graph(nodes: [Node(name: "r", opType: "Reshape", inputs: ["x"], outputs: ["y"], op: reshape)],
                          inputs: [ValueInfo(name: "x", type: .tensor(.float, [.fixed(2), .fixed(3), .fixed(4)]))],
                          outputs: [ValueInfo(name: "y", type: nil)])
        try graph.verify()
        #expect(try graph.inferFacts()["y"]?.dimensions == [.fixed(1), .fixed(24)])
    }

    @Test func unknownAutoPadIsRejected() {
        #expect(throws: AttributeProblem.self) {
            try Operator(opType: "Conv", domain: "", attributes: [Attribute(name: "auto_pad", value: .string(Array("SIDEWAYS".utf8)))], opset: 13)
        }
    }

    @Test func otherDomainsAreUnsupportedPlaceholders() throws {
        let op = try Operator(opType: "Conv", domain: "com.microsoft", attributes: [], opset: 1)
        #expect(op == .unsupported(UnsupportedOperator(opType: "Conv", domain: "com.microsoft")))
    }
}
